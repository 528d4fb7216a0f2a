package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/mapping"
)

type fixedAudits []aha.Audit

func (f fixedAudits) ListAudits(_ context.Context, q aha.AuditQuery) ([]aha.Audit, aha.Pagination, error) {
	var out []aha.Audit
	for _, a := range f {
		if q.AfterID == "" || a.ID.String() > q.AfterID {
			out = append(out, a)
		}
	}
	return out, aha.Pagination{TotalPages: 1, CurrentPage: 1}, nil
}

// Reconcile never moves its watermark past an audit another hand-off still
// holds (it may yet fail), and skips, with a log line, an audit Temporal
// refuses as invalid (it would fail the same way forever).
func TestReconcileWaitsForInFlightAndSkipsInvalid(t *testing.T) {
	cfg, err := mapping.LoadFileWithOptions(filepath.Join("..", "..", "examples", "ahacc.yaml"), mapping.LoadOptions{AllowUnsetEnv: true,
		LookupEnv: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	tc := &mocks.Client{}
	tc.On("SignalWithStartWorkflow", mock.Anything, "aha:idea:11", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, nil)
	tc.On("SignalWithStartWorkflow", mock.Anything, "aha:idea:13", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewInvalidArgument("WorkflowId length exceeds limit."))
	tc.On("SignalWithStartWorkflow", mock.Anything, "aha:idea:14", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, nil)
	store := dedup.New(redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()}), time.Hour, "")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := &dispatch.Dispatcher{Temporal: tc, TaskQueue: "q", Config: func() *mapping.Config { return cfg }, Dedup: store, Logger: logger}
	acts := activities.New(activities.Deps{Configs: activities.NewConfigStore(cfg), Logger: logger})
	audit := func(id, auditable string) aha.Audit {
		return aha.Audit{ID: aha.FlexID(id), AuditAction: "update", AuditableType: "ideas/idea", AuditableID: aha.FlexID(auditable)}
	}
	acts.Audits = fixedAudits{audit("1", "11"), audit("2", "12"), audit("3", "13"), audit("4", "14"), audit("5", "not-an-id")}
	acts.Dispatcher = auditDispatcher{d: d, logger: logger}

	// Audit 2 is being handed over by a webhook right now.
	ctx := context.Background()
	_, owner, err := store.Claim(ctx, "aha", "2")
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	_, err = env.ExecuteActivity(acts.ReconcileAudits, activities.ReconcileRequest{})
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.False(t, ae.NonRetryable(), "retried later, with the watermark before audit 2")
	require.Contains(t, ae.Message(), "being handed over")
	tc.AssertNotCalled(t, "SignalWithStartWorkflow", mock.Anything, "aha:idea:13", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything)

	// The webhook's hand-off completes; the next try passes audit 2 as done,
	// skips the two invalid ones and goes on.
	require.NoError(t, store.Confirm(ctx, "aha", "2"))
	_ = owner
	v, err := env.ExecuteActivity(acts.ReconcileAudits, activities.ReconcileRequest{})
	require.NoError(t, err)
	var res activities.ReconcileResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, "5", res.LastID)
	require.Equal(t, 1, res.Accepted, "audit 4")
	require.Equal(t, 2, res.Duplicates, "audits 1 and 2")
	require.Equal(t, 2, res.Invalid, "audits 3 and 5")
}
