package dispatch

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
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

func testDispatcher(t *testing.T) (*Dispatcher, *mocks.Client, *mapping.Config) {
	t.Helper()
	cfg, err := mapping.LoadFileWithOptions(filepath.Join("..", "..", "examples", "ahacc.yaml"), mapping.LoadOptions{
		LookupEnv: func(string) (string, bool) { return "", false }, AllowUnsetEnv: true})
	require.NoError(t, err)
	tc := &mocks.Client{}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	return &Dispatcher{Temporal: tc, TaskQueue: "q", Config: func() *mapping.Config { return cfg },
		Dedup: dedup.New(rdb, time.Minute, ""), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, tc, cfg
}

// TestRouteFeedsFeedbackMatchesConfig: the allocation-free check agrees with
// FeedbackTypesFor for every configured kind.
func TestRouteFeedsFeedbackMatchesConfig(t *testing.T) {
	d, _, cfg := testDispatcher(t)
	for typ, kind := range cfg.Aha.RecordTypes {
		require.Equal(t, len(cfg.FeedbackTypesFor(kind)) > 0, feedsFeedback(cfg, kind), kind)
		gotKind, wfID, ignored := d.Route(&aha.Audit{ID: "1", AuditAction: "update", AuditableType: typ, AuditableID: "42"})
		if ignored == "" {
			require.Equal(t, kind, gotKind)
			require.Equal(t, contract.AhaRecordWorkflowID(kind, "42"), wfID)
		}
	}
}

// TestDispatchSignalsOnceThenDuplicate: the first delivery signals-with-start
// with the full options and event; the second is a duplicate that does not
// reach Temporal.
func TestDispatchSignalsOnceThenDuplicate(t *testing.T) {
	d, tc, _ := testDispatcher(t)
	var gotOpts client.StartWorkflowOptions
	var gotEv contract.AhaEvent
	var gotIn workflows.AhaRecordInput
	tc.On("SignalWithStartWorkflow", mock.Anything, "aha:idea:42", contract.SignalAhaEvent, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Run(func(args mock.Arguments) {
			gotEv = args.Get(3).(contract.AhaEvent)
			gotOpts = args.Get(4).(client.StartWorkflowOptions)
			gotIn = args.Get(6).(workflows.AhaRecordInput)
		}).Return(nil, nil).Once()
	a := &aha.Audit{ID: "7", AuditAction: "update", CreatedAt: "2026-11-27T10:00:00.5Z", AuditableType: "ideas/idea", AuditableID: "42",
		Changes: []aha.Change{{FieldName: "Votes"}, {FieldName: "Name"}}}
	out, err := d.Dispatch(context.Background(), a, "webhook")
	require.NoError(t, err)
	require.Equal(t, Outcome{Status: Accepted, WorkflowID: "aha:idea:42"}, out)
	require.Equal(t, contract.AhaEvent{AuditID: "7", Action: "update", AuditableType: "ideas/idea",
		CreatedAt: time.Date(2026, 11, 27, 10, 0, 0, 500_000_000, time.UTC), Fields: []string{"Votes", "Name"}, Source: "webhook"}, gotEv)
	require.Equal(t, "aha:idea:42", gotOpts.ID)
	require.Equal(t, "q", gotOpts.TaskQueue)
	require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, gotOpts.WorkflowIDReusePolicy)
	require.Equal(t, "Aha! idea 42 → Centercode", gotOpts.StaticSummary)
	kind, ok := gotOpts.TypedSearchAttributes.GetKeyword(contract.KeyAhaRecordType)
	require.True(t, ok)
	require.Equal(t, "idea", kind)
	state, ok := gotOpts.TypedSearchAttributes.GetKeyword(contract.KeySyncState)
	require.True(t, ok)
	require.Equal(t, contract.StateSyncing, state)
	require.Equal(t, workflows.AhaRecordInput{Kind: "idea", AhaID: "42"}, gotIn)

	out, err = d.Dispatch(context.Background(), a, "webhook")
	require.NoError(t, err)
	require.Equal(t, Outcome{Status: Duplicate, WorkflowID: "aha:idea:42"}, out)
	tc.AssertNumberOfCalls(t, "SignalWithStartWorkflow", 1)
}

// A create macro's deliveries for one feedback signal-with-start one
// workflow id (macro:<action>:<feedback id>): a run in flight is handed the
// new run; each delivery is still deduplicated by its own run key.
func TestCreateMacroRunsShareOneWorkflowID(t *testing.T) {
	d, tc, _ := testDispatcher(t)
	var ids []string
	var reqs []contract.MacroRunRequest
	tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, contract.SignalRunAgain, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Run(func(args mock.Arguments) {
			opts := args.Get(4).(client.StartWorkflowOptions)
			require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, opts.WorkflowIDReusePolicy)
			ids = append(ids, args.Get(1).(string))
			reqs = append(reqs, args.Get(3).(contract.MacroRunRequest))
		}).Return(nil, nil)
	var started []string
	tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Run(func(args mock.Arguments) { started = append(started, args.Get(1).(client.StartWorkflowOptions).ID) }).Return(nil, nil)
	ctx := context.Background()
	for _, key := range []string{"k1", "k2", "k1"} {
		_, err := d.DispatchMacro(ctx, MacroRun{Macro: "push-to-aha", FeedbackID: "1001", RunKey: key, Payload: []byte(`{}`)})
		require.NoError(t, err)
	}
	require.Equal(t, []string{"macro:create_idea:1001", "macro:create_idea:1001"}, ids, "the repeated run key is a duplicate")
	require.Equal(t, "k2", reqs[1].RunKey)
	_, err := d.DispatchMacro(ctx, MacroRun{Macro: "comment-to-aha", FeedbackID: "1001", RunKey: "k3", Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.Equal(t, []string{"macro:comment-to-aha:1001:k3"}, started, "other macros: one workflow per run")
}

// The SDK gives a call half the time left in its context (room for a retry
// of a lost call), so a frontend back after that half would see a
// Centercode delivery refused that could have waited (the invariant harness,
// seed 138: a 3 s outage, a status change refused 5 s into its 10 s). The
// hand-off sends again while its own time lasts; what Temporal refuses is
// not sent again.
func TestHandOffSendsAgainWithinItsTime(t *testing.T) {
	d, tc, _ := testDispatcher(t)
	d.Timeout = 2 * time.Second
	start := time.Now()
	tc.On("SignalWithStartWorkflow", mock.Anything, "cc:feedback:1004", contract.SignalStatusChanged, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Run(func(mock.Arguments) { time.Sleep(time.Second) }). // the SDK's own deadline: half the hand-off's
		Return(nil, serviceerror.NewDeadlineExceeded("context deadline exceeded")).Once()
	tc.On("SignalWithStartWorkflow", mock.Anything, "cc:feedback:1004", contract.SignalStatusChanged, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewUnavailable("connection refused")).Once()
	tc.On("SignalWithStartWorkflow", mock.Anything, "cc:feedback:1004", contract.SignalStatusChanged, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, nil).Once()
	out, err := d.DispatchStatus(context.Background(), StatusEvent{FeedbackID: "1004", Change: contract.StatusChange{Key: "k1", Status: "Will Fix"}})
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	tc.AssertNumberOfCalls(t, "SignalWithStartWorkflow", 3)
	require.Less(t, time.Since(start), 2*time.Second)

	// Refused input is not sent again.
	tc.On("SignalWithStartWorkflow", mock.Anything, "cc:feedback:1005", contract.SignalStatusChanged, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewInvalidArgument("WorkflowId length exceeds limit.")).Once()
	_, err = d.DispatchStatus(context.Background(), StatusEvent{FeedbackID: "1005", Change: contract.StatusChange{Key: "k2", Status: "Will Fix"}})
	require.ErrorIs(t, err, ErrInvalid)

	// Nor past the hand-off's time: the answer is unavailable.
	d.Timeout = 300 * time.Millisecond
	tc.On("SignalWithStartWorkflow", mock.Anything, "cc:feedback:1006", contract.SignalStatusChanged, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Run(func(args mock.Arguments) { <-args.Get(0).(context.Context).Done() }).
		Return(nil, serviceerror.NewDeadlineExceeded("context deadline exceeded"))
	start = time.Now()
	_, err = d.DispatchStatus(context.Background(), StatusEvent{FeedbackID: "1006", Change: contract.StatusChange{Key: "k3", Status: "Will Fix"}})
	require.ErrorIs(t, err, ErrUnavailable)
	require.Less(t, time.Since(start), time.Second)
}

// A busy server (ResourceExhausted with a cause) is asked again within the
// hand-off's time; a message too large (no cause) is not. A start whose
// first call went unanswered and whose repeat finds the run started was
// taken by that first call: accepted, not a duplicate.
func TestHandOffBusyAndTakenByAnUnansweredCall(t *testing.T) {
	d, tc, _ := testDispatcher(t)
	d.Timeout = 2 * time.Second
	run := func(fid string) (Outcome, error) {
		return d.DispatchMacro(context.Background(), MacroRun{Macro: "comment-to-aha", FeedbackID: fid, RunKey: "k", Payload: []byte(`{}`)})
	}
	tc.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool { return o.ID == "macro:comment-to-aha:1:k" }), mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW, "busy")).Once()
	tc.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool { return o.ID == "macro:comment-to-aha:1:k" }), mock.Anything, mock.Anything).
		Return(nil, nil).Once()
	out, err := run("1")
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)

	tc.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool { return o.ID == "macro:comment-to-aha:2:k" }), mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_UNSPECIFIED, "grpc: message larger than max")).Once()
	_, err = run("2")
	require.ErrorIs(t, err, ErrUnavailable)

	tc.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool { return o.ID == "macro:comment-to-aha:3:k" }), mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewDeadlineExceeded("context deadline exceeded")).Once()
	tc.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool { return o.ID == "macro:comment-to-aha:3:k" }), mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewWorkflowExecutionAlreadyStarted("started", "", "")).Once()
	out, err = run("3")
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status, "taken by the unanswered first call")
	tc.AssertNumberOfCalls(t, "ExecuteWorkflow", 5)
}
