package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

type AhaRecordSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	fetches int
	submits []activities.SubmitRequest
	name    string            // current Aha! record name; changes alter the mapped hash
	routes  activities.Routes // what RoutesFor answers

	// Overridable behaviours (the SDK's mock wrapper cannot unset a mock).
	fetchFn  func(req activities.FetchRequest) (activities.Record, error)
	mapFn    func(req activities.MapRequest) (activities.Mapped, error)
	submitFn func(req activities.SubmitRequest) (activities.SubmitResult, error)
}

func TestAhaRecordSuite(t *testing.T) { suite.Run(t, new(AhaRecordSuite)) }

func (s *AhaRecordSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	stepByStep(s.env)
	s.env.RegisterActivity(&activities.Activities{})
	s.fetches, s.submits, s.name = 0, nil, "v1"
	s.routes = activities.Routes{FeedbackTypes: []string{"bugs"}, Debounce: 2 * time.Second, ConfigHash: "cfg1"}
	s.env.OnActivity(a.RoutesFor, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.RoutesRequest) (activities.Routes, error) { return s.routes, nil }).Maybe()
	s.fetchFn = func(req activities.FetchRequest) (activities.Record, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		return activities.Record{Kind: req.Kind, AhaID: req.AhaID, Reference: "PRJ1-I-10", Name: s.name,
			JSON: []byte(fmt.Sprintf(`{"name":%q}`, s.name))}, nil
	}
	s.mapFn = func(req activities.MapRequest) (activities.Mapped, error) {
		return activities.Mapped{FeedbackType: req.FeedbackType, Body: req.Record, Hash: "h-" + string(req.Record), Reference: "PRJ1-I-10"}, nil
	}
	s.submitFn = func(req activities.SubmitRequest) (activities.SubmitResult, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.submits = append(s.submits, req)
		id := req.FeedbackID
		if id == "" {
			id = "4821"
		}
		return activities.SubmitResult{FeedbackID: id}, nil
	}
	s.env.OnActivity(a.FetchAhaRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.FetchRequest) (activities.Record, error) { return s.fetchFn(req) }).Maybe()
	s.env.OnActivity(a.MapRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.MapRequest) (activities.Mapped, error) { return s.mapFn(req) }).Maybe()
	s.env.OnActivity(a.SubmitFeedback, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.SubmitRequest) (activities.SubmitResult, error) {
			return s.submitFn(req)
		}).Maybe()
}

func (s *AhaRecordSuite) signal(at time.Duration, ev contract.AhaEvent) {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(contract.SignalAhaEvent, ev) }, at)
}

func (s *AhaRecordSuite) query() State {
	v, err := s.env.QueryWorkflow(contract.QueryState)
	s.Require().NoError(err)
	var st State
	s.Require().NoError(v.Get(&st))
	return st
}

// end stops the otherwise endless entity workflow after the test's events.
func (s *AhaRecordSuite) end(at time.Duration, check func()) {
	s.env.RegisterDelayedCallback(func() {
		check()
		s.env.CancelWorkflow()
	}, at)
}

func (s *AhaRecordSuite) run() {
	s.env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	s.True(s.env.IsWorkflowCompleted())
}

func (s *AhaRecordSuite) TestFirstEventSyncsAtOnceAndCreates() {
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.end(500*time.Millisecond, func() {
		st := s.query()
		s.Equal(contract.StateSynced, st.SyncState)
		s.Equal("PRJ1-I-10", st.Reference)
		s.Require().Len(st.Links, 1)
		s.Equal("4821", st.Links[0].FeedbackID)
		s.Equal(1, s.fetches, "leading edge: no debounce before the first sync")
		s.Require().Len(s.submits, 1)
		s.Empty(s.submits[0].FeedbackID, "first sync creates")
		s.Contains(st.Summary(), "idea PRJ1-I-10 → bugs feedback 4821: synced")
	})
	s.run()
}

func (s *AhaRecordSuite) TestBurstCoalescesIntoOneFollowUpAndUpdates() {
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	// 100 updates within the next second: they coalesce into one follow-up sync.
	for i := 0; i < 100; i++ {
		i := i
		s.env.RegisterDelayedCallback(func() {
			s.mu.Lock()
			s.name = fmt.Sprintf("v%d", i+2)
			s.mu.Unlock()
			s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: fmt.Sprint(100 + i), Action: "update"})
		}, 10*time.Millisecond+time.Duration(i)*9*time.Millisecond)
	}
	s.end(10*time.Second, func() {
		st := s.query()
		s.Equal(2, s.fetches, "one leading sync + one coalesced follow-up")
		s.Require().Len(s.submits, 2)
		s.Empty(s.submits[0].FeedbackID)
		s.Equal("4821", s.submits[1].FeedbackID, "later syncs update the same feedback")
		s.JSONEq(`{"name":"v101"}`, string(s.submits[1].Body), "final content is the last state")
		s.Equal(101, st.Events)
	})
	s.run()
}

func (s *AhaRecordSuite) TestUnchangedBodySkipsWrite() {
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.signal(5*time.Second, contract.AhaEvent{AuditID: "2", Action: "update"})
	s.end(20*time.Second, func() {
		s.Equal(2, s.fetches)
		s.Len(s.submits, 1, "same hash: no second write")
	})
	s.run()
}

func (s *AhaRecordSuite) TestDuplicateAuditIgnored() {
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.signal(5*time.Second, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.end(20*time.Second, func() {
		st := s.query()
		s.Equal(1, st.Duplicates)
		s.Equal(1, st.Events)
		s.Equal(1, s.fetches)
	})
	s.run()
}

func (s *AhaRecordSuite) TestPermanentErrorParksThenRetrySyncs() {
	var mu sync.Mutex
	fail := true
	s.mapFn = func(req activities.MapRequest) (activities.Mapped, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return activities.Mapped{}, temporal.NewNonRetryableApplicationError(
				`Severity: "P0" is not one of Critical, Major, Minor, Trivial (feedback type "bugs"); add it to map: or change the options`,
				activities.ErrTypeMapping, nil)
		}
		return activities.Mapped{FeedbackType: "bugs", Body: req.Record, Hash: "h", Reference: "PRJ1-I-10"}, nil
	}
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(contract.StateParked, st.SyncState)
		s.Contains(st.ParkedReason, `"P0" is not one of`)
		s.Contains(st.Summary(), "parked")
		s.Empty(s.submits)
		mu.Lock()
		fail = false
		mu.Unlock()
		s.env.SignalWorkflow(contract.SignalRetry, nil)
	}, time.Hour)
	s.end(2*time.Hour, func() {
		st := s.query()
		s.Equal(contract.StateSynced, st.SyncState)
		s.Empty(st.ParkedReason)
		s.Len(s.submits, 1)
	})
	s.run()
}

func (s *AhaRecordSuite) TestParkedRecordSkip() {
	s.fetchFn = func(activities.FetchRequest) (activities.Record, error) {
		return activities.Record{}, temporal.NewNonRetryableApplicationError("fetch Aha! idea 6776: 403 Forbidden", activities.ErrTypePermanent, nil)
	}
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateParked, s.query().SyncState)
		s.env.SignalWorkflow(contract.SignalSkip, nil)
	}, time.Minute)
	s.end(2*time.Minute, func() {
		st := s.query()
		s.Equal(contract.StateSkipped, st.SyncState)
		s.False(st.Pending)
		s.Empty(s.submits)
	})
	s.run()
}

func (s *AhaRecordSuite) TestTransientErrorsRetryThenSucceed() {
	calls := 0
	s.submitFn = func(req activities.SubmitRequest) (activities.SubmitResult, error) {
		calls++
		if calls < 4 {
			return activities.SubmitResult{}, temporal.NewApplicationError("create bugs feedback: 503", activities.ErrTypeTransient)
		}
		return activities.SubmitResult{FeedbackID: "77"}, nil
	}
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.end(time.Hour, func() {
		st := s.query()
		s.Equal(contract.StateSynced, st.SyncState)
		s.Equal(4, calls)
		s.Equal("77", st.Links[0].FeedbackID)
	})
	s.run()
}

func (s *AhaRecordSuite) TestDestroyNotifiesLinkedFeedbackOnce() {
	var destroyed []activities.DestroyRequest
	s.env.OnActivity(a.NotifyDestroyed, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.DestroyRequest) error {
			destroyed = append(destroyed, req)
			return nil
		})
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.signal(10*time.Second, contract.AhaEvent{AuditID: "2", Action: "destroy"})
	s.signal(20*time.Second, contract.AhaEvent{AuditID: "3", Action: "update"})
	s.end(time.Minute, func() {
		st := s.query()
		s.True(st.Destroyed)
		s.Require().Len(destroyed, 1)
		s.Equal("4821", destroyed[0].FeedbackID)
		s.Equal(1, s.fetches, "no fetch after destroy")
	})
	s.run()
}

func TestSeenSetIsBounded(t *testing.T) {
	e := &entity{}
	e.seen = newSeenSet(&e.Seen, SeenLimit)
	for i := 0; i < SeenLimit+500; i++ {
		e.onEvent(contract.AhaEvent{AuditID: fmt.Sprint(i), Action: "update"})
	}
	require.Len(t, e.Seen, SeenLimit)
	require.Len(t, e.seen.index, SeenLimit)
	require.Equal(t, "500", e.Seen[0])
	e.onEvent(contract.AhaEvent{AuditID: fmt.Sprint(SeenLimit + 499), Action: "update"})
	require.Equal(t, 1, e.Duplicates)
}

// TestContinueAsNewCarriesStateAndSeenIDs runs enough events to pass the
// per-run cap and checks the next run's input carries the link and seen ids.
func TestContinueAsNewCarriesStateAndSeenIDs(t *testing.T) {
	defer func(n int) { eventsPerRun = n }(eventsPerRun)
	eventsPerRun = 30
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	stepByStep(env)
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.RoutesFor, mock.Anything, mock.Anything).Return(activities.Routes{FeedbackTypes: []string{"bugs"}}, nil)
	env.OnActivity(a.FetchAhaRecord, mock.Anything, mock.Anything).Return(activities.Record{Reference: "PRJ1-I-1", JSON: []byte(`{}`)}, nil)
	env.OnActivity(a.MapRecord, mock.Anything, mock.Anything).Return(activities.Mapped{Hash: "h"}, nil)
	env.OnActivity(a.SubmitFeedback, mock.Anything, mock.Anything).Return(activities.SubmitResult{FeedbackID: "9"}, nil)
	for i := 0; i < eventsPerRun+5; i++ {
		i := i
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: fmt.Sprint(i), Action: "update"})
		}, time.Duration(i+1)*time.Millisecond)
	}
	env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "1"})
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "got %v", err)
	var next AhaRecordInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Carried)
	require.Equal(t, "9", next.Carried.Links[0].FeedbackID)
	require.GreaterOrEqual(t, len(next.Carried.Seen), eventsPerRun)
	require.False(t, next.Carried.Pending)
}

func (s *AhaRecordSuite) TestOwnRecordIsAdoptedNotCreated() {
	s.fetchFn = func(req activities.FetchRequest) (activities.Record, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		return activities.Record{Kind: req.Kind, AhaID: req.AhaID, Reference: "PRJ1-I-99", JSON: []byte(fmt.Sprintf(`{"name":%q}`, s.name)),
			LinkedFeedbackID: "555"}, nil
	}
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	// A later real change in Aha! does update the linked feedback.
	s.env.RegisterDelayedCallback(func() {
		s.mu.Lock()
		s.name = "changed in Aha!"
		s.mu.Unlock()
		s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "2", Action: "update"})
	}, time.Minute)
	s.end(2*time.Minute, func() {
		st := s.query()
		s.Equal(1, st.Echoes)
		s.Equal("555", st.Links[0].FeedbackID)
		s.Require().Len(s.submits, 1, "the echo wrote nothing; the real change wrote once")
		s.Equal("555", s.submits[0].FeedbackID, "an update, never a create")
	})
	s.run()
}

func (s *AhaRecordSuite) TestDestroyUnparksARecordParkedOn404() {
	var destroyed []activities.DestroyRequest
	s.env.OnActivity(a.NotifyDestroyed, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.DestroyRequest) error {
			destroyed = append(destroyed, req)
			return nil
		})
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() {
		s.fetchFn = func(activities.FetchRequest) (activities.Record, error) {
			return activities.Record{}, temporal.NewNonRetryableApplicationError("fetch Aha! idea 6776: 404 Not Found", activities.ErrTypeNotFound, nil)
		}
		s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "2", Action: "update"})
	}, 10*time.Second)
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateParked, s.query().SyncState, "the fetch after the deletion parks")
		s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "3", Action: "destroy"})
	}, 30*time.Second)
	s.end(time.Minute, func() {
		st := s.query()
		s.True(st.Destroyed)
		s.Equal(contract.StateSynced, st.SyncState)
		s.Require().Len(destroyed, 1, "on_destroy applied once")
		s.Equal("4821", destroyed[0].FeedbackID)
	})
	s.run()
}

func (s *AhaRecordSuite) TestFromAhaStatusSetOnceThroughTheListener() {
	var set []activities.SetStatusRequest
	s.env.OnActivity(a.SetCentercodeStatus, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.SetStatusRequest) error {
			set = append(set, req)
			return nil
		})
	s.mapFn = func(req activities.MapRequest) (activities.Mapped, error) {
		return activities.Mapped{FeedbackType: req.FeedbackType, Body: req.Record, Hash: "h-" + string(req.Record),
			Reference: "PRJ1-I-10", CentercodeStatus: "Fixed"}, nil
	}
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() {
		s.mu.Lock()
		s.name = "v2"
		s.mu.Unlock()
		s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "2", Action: "update"})
	}, 10*time.Second)
	s.end(time.Minute, func() {
		st := s.query()
		s.Require().Len(set, 1, "the status is set once, not again while it stays the same")
		s.Equal(activities.SetStatusRequest{FeedbackID: "4821", Status: "Fixed"}, set[0])
		s.Equal("Fixed", st.Links[0].LastStatus)
		s.Len(s.submits, 2)
	})
	s.run()
}

// The config's retry settings (sync.retry_for, sync.retry_max_interval) come
// with the routes and shape the record's far-side calls; each has a heartbeat
// timeout, so a dead worker's call moves on within 20 s.
func (s *AhaRecordSuite) TestCallsRetryAsTheConfigSays() {
	s.routes.RetryFor, s.routes.RetryMaxInterval = 3*time.Hour, 7*time.Second
	seen := recordActivityOptions(s.env)
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.end(500*time.Millisecond, func() {
		s.Equal(contract.StateSynced, s.query().SyncState)
		for _, name := range []string{"FetchAhaRecord", "SubmitFeedback"} {
			o, ok := seen.get(name)
			s.Require().True(ok, name)
			s.Equal(7*time.Second, o.RetryPolicy.MaximumInterval, name)
			s.Equal(time.Second, o.RetryPolicy.InitialInterval, name)
			s.Equal(3*time.Hour, o.ScheduleToCloseTimeout, name)
			s.Equal(20*time.Second, o.HeartbeatTimeout, name)
		}
	})
	s.run()
}

// update sends an operator Update; check gets its answer, or the
// validator's refusal as an error, when the workflow has handled it.
func (s *AhaRecordSuite) update(name, id string, answered *int, check func(answer string, err error), args ...any) {
	s.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { check("", err); *answered++ },
		OnComplete: func(v any, err error) {
			answer, _ := v.(string)
			check(answer, err)
			*answered++
		},
	}, args...)
}

// The retry and skip Updates answer the operator: what the record was parked
// on and since when, or — not parked — a refusal saying there is nothing to
// do (the validator refuses before anything is written to history).
func (s *AhaRecordSuite) TestRetryAndSkipUpdatesAnswer() {
	var mu sync.Mutex
	fail := true
	s.fetchFn = func(req activities.FetchRequest) (activities.Record, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return activities.Record{}, temporal.NewNonRetryableApplicationError("fetch Aha! idea 6776: 403 Forbidden", activities.ErrTypePermanent, nil)
		}
		return activities.Record{Kind: req.Kind, AhaID: req.AhaID, Reference: "PRJ1-I-10", Name: "v1", JSON: []byte(`{"name":"v1"}`)}, nil
	}
	answered := 0
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateParked, s.query().SyncState)
		mu.Lock()
		fail = false
		mu.Unlock()
		s.update(contract.UpdateRetry, "u1", &answered, func(answer string, err error) {
			s.NoError(err)
			s.Contains(answer, "retried: parked on fetch Aha! idea 6776: 403 Forbidden since ")
		}, contract.RetryRequest{})
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateSynced, s.query().SyncState)
		s.update(contract.UpdateRetry, "u2", &answered, func(_ string, err error) {
			s.ErrorContains(err, "not parked: nothing to retry")
		}, contract.RetryRequest{})
		s.update(contract.UpdateSkip, "u3", &answered, func(_ string, err error) {
			s.ErrorContains(err, "not parked: nothing to skip")
		})
		mu.Lock()
		fail = true
		mu.Unlock()
		s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "2", Action: "update"})
	}, time.Hour)
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateParked, s.query().SyncState)
		s.update(contract.UpdateSkip, "u4", &answered, func(answer string, err error) {
			s.NoError(err)
			s.Contains(answer, "skipped: parked on fetch Aha! idea 6776: 403 Forbidden since ")
		})
	}, 2*time.Hour)
	s.end(3*time.Hour, func() {
		st := s.query()
		s.Equal(contract.StateSkipped, st.SyncState)
		s.Len(s.submits, 1, "one write: the retried sync")
		s.Equal(4, answered, "every Update answered")
	})
	s.run()
}

// stepByStep pins record runs to version 3, whose sync steps are activities
// of their own (what these tests mock); version 4's one-activity sync has its
// own tests (aha_record_sync_test.go), and both share RecordSync.Sync.
func stepByStep(env *testsuite.TestWorkflowEnvironment) {
	env.OnGetVersion("record-maybe-created", workflow.DefaultVersion, 4).Return(workflow.Version(3))
}
