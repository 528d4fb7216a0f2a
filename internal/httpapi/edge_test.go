package httpapi

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/mocks"

	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/mapping"
)

// edgeFixture is the Aha! webhook over miniredis (its clock can jump) and a
// mock Temporal.
func edgeFixture(t *testing.T) (*fixture, *miniredis.Miniredis) {
	cfg := testConfig(t)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tc := &mocks.Client{}
	store := dedup.New(rdb, time.Hour, "")
	d := &dispatch.Dispatcher{Temporal: tc, TaskQueue: "q", Config: func() *mapping.Config { return cfg },
		Dedup: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := New(Options{Temporal: tc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Aha: &AhaWebhook{Tokens: []string{token}, Dispatcher: d}})
	return &fixture{app: srv.App(), tc: tc, store: store}, mr
}

// Input Temporal refuses is bad input, not an outage: ids that are not Aha!
// ids are refused at parse time, and Temporal's InvalidArgument is a 400.
func TestInvalidInputAnswers400(t *testing.T) {
	f, _ := edgeFixture(t)
	f.tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewInvalidArgument("WorkflowId length exceeds limit."))
	hook := "/webhooks/aha/" + token
	for name, body := range map[string]string{
		"2,000-digit auditable_id": audit(`"77"`, "ideas/idea", `"`+strings.Repeat("9", 2000)+`"`, ""),
		"auditable_id not an id":   audit(`"78"`, "ideas/idea", `"idea 12; drop"`, ""),
		"audit id not an id":       audit(`"x y"`, "ideas/idea", `"12"`, ""),
	} {
		code, resp, h := f.post(t, hook, body)
		require.Equal(t, 400, code, "%s: %s", name, resp)
		require.Empty(t, h.Get("Retry-After"), name)
		require.Contains(t, resp, "not an Aha! id", name)
	}
	f.tc.AssertNotCalled(t, "SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything)

	// An id that passes here but that Temporal still refuses.
	code, resp, h := f.post(t, hook, audit(`"79"`, "ideas/idea", `"12"`, ""))
	require.Equal(t, 400, code, resp)
	require.Empty(t, h.Get("Retry-After"))
	// ...and it was not marked as seen.
	f.tc.ExpectedCalls = nil
	f.tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, nil)
	code, resp, _ = f.post(t, hook, audit(`"79"`, "ideas/idea", `"12"`, ""))
	require.Equal(t, 202, code, resp)
}

// While one delivery's hand-off is in flight, a second delivery of the same
// audit is not told "duplicate": if the first then fails, nobody handed the
// audit over.
func TestInFlightDeliveryIsNotADuplicate(t *testing.T) {
	f, _ := edgeFixture(t)
	f.tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Run(func(args mock.Arguments) {
			<-args.Get(0).(context.Context).Done() // Temporal is slow: the 3 s hand-off timeout fires
		}).Return(nil, context.DeadlineExceeded).Once()
	hook := "/webhooks/aha/" + token
	var wg sync.WaitGroup
	var codeA int
	wg.Add(1)
	go func() { defer wg.Done(); codeA, _, _ = f.post(t, hook, audit(`"555"`, "ideas/idea", `"1"`, "")) }()
	time.Sleep(300 * time.Millisecond)
	codeB, bodyB, hB := f.post(t, hook, audit(`"555"`, "ideas/idea", `"1"`, ""))
	wg.Wait()
	require.Equal(t, 503, codeA)
	require.Equal(t, 409, codeB, bodyB)
	require.NotEmpty(t, hB.Get("Retry-After"))
	require.Contains(t, bodyB, `"status":"in_flight"`)

	// The owner released its claim: the next delivery goes through.
	f.tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, nil)
	code, resp, _ := f.post(t, hook, audit(`"555"`, "ideas/idea", `"1"`, ""))
	require.Equal(t, 202, code, resp)
	code, resp, _ = f.post(t, hook, audit(`"555"`, "ideas/idea", `"1"`, ""))
	require.Equal(t, 200, code, resp)
	require.Contains(t, resp, `"status":"duplicate"`, "done is a duplicate")
}

// A starter that died between its claim and its release leaves a pending
// claim: retries are refused with Retry-After until it expires, then taken,
// never answered "duplicate".
func TestDeadOwnersClaimIsRetriedNotDuplicate(t *testing.T) {
	f, mr := edgeFixture(t)
	f.tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil, nil)
	_, _, err := f.store.Claim(context.Background(), "aha", "556") // the dead starter's claim
	require.NoError(t, err)
	hook := "/webhooks/aha/" + token
	code, resp, h := f.post(t, hook, audit(`"556"`, "ideas/idea", `"1"`, ""))
	require.Equal(t, 409, code, resp)
	require.NotEmpty(t, h.Get("Retry-After"))
	mr.FastForward(31 * time.Second)
	code, resp, _ = f.post(t, hook, audit(`"556"`, "ideas/idea", `"1"`, ""))
	require.Equal(t, 202, code, resp)
}
