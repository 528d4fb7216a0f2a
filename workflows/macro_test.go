package workflows

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/mapping"
)

type MacroSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu         sync.Mutex
	plans      int
	pushes     []activities.PushRequest
	stamps     []activities.StampRequest
	writeBacks []activities.WriteBackRequest

	planFn  func(req activities.PlanMacroRequest) (activities.MacroPlan, error)
	pushFn  func(ctx context.Context, req activities.PushRequest) (activities.PushResult, error)
	stampFn func(req activities.StampRequest) error
}

func TestMacroSuite(t *testing.T) { suite.Run(t, new(MacroSuite)) }

func (s *MacroSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterActivity(&activities.Activities{})
	s.plans, s.pushes, s.stamps, s.writeBacks = 0, nil, nil, nil
	s.planFn = func(req activities.PlanMacroRequest) (activities.MacroPlan, error) {
		return activities.MacroPlan{Macro: req.Macro, Action: mapping.ActionCreateIdea, Product: "PRJ1", FeedbackID: "1001",
			Body: json.RawMessage(`{"name":"Crash on save"}`), ConfigHash: "cfg1"}, nil
	}
	s.pushFn = func(_ context.Context, req activities.PushRequest) (activities.PushResult, error) {
		return activities.PushResult{Kind: "idea", ID: "6776", Reference: "PRJ1-I-12", URL: "http://aha/ideas/PRJ1-I-12", Created: true}, nil
	}
	s.stampFn = func(activities.StampRequest) error { return nil }
	s.env.OnActivity(a.PlanMacro, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.PlanMacroRequest) (activities.MacroPlan, error) {
			s.mu.Lock()
			s.plans++
			s.mu.Unlock()
			return s.planFn(req)
		}).Maybe()
	s.env.OnActivity(a.PushToAha, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req activities.PushRequest) (activities.PushResult, error) {
			s.mu.Lock()
			s.pushes = append(s.pushes, req)
			s.mu.Unlock()
			return s.pushFn(ctx, req)
		}).Maybe()
	s.env.OnActivity(a.StampAhaRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.StampRequest) error {
			s.mu.Lock()
			s.stamps = append(s.stamps, req)
			s.mu.Unlock()
			return s.stampFn(req)
		}).Maybe()
	s.env.OnActivity(a.WriteBackLink, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.WriteBackRequest) (activities.WriteBackResult, error) {
			s.mu.Lock()
			s.writeBacks = append(s.writeBacks, req)
			s.mu.Unlock()
			return activities.WriteBackResult{}, nil
		}).Maybe()
}

func (s *MacroSuite) input() MacroInput {
	return MacroInput{Macro: "push-to-aha", FeedbackID: "1001", RunKey: "run-1", Trigger: contract.TriggerWebhook,
		Payload: json.RawMessage(`{"feedbackId":1001,"title":"Crash on save"}`)}
}

func (s *MacroSuite) query() MacroState {
	v, err := s.env.QueryWorkflow(contract.QueryState)
	s.Require().NoError(err)
	var st MacroState
	s.Require().NoError(v.Get(&st))
	return st
}

func (s *MacroSuite) result() MacroState {
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var st MacroState
	s.Require().NoError(s.env.GetWorkflowResult(&st))
	return st
}

func (s *MacroSuite) TestCreateStampsAndWritesBack() {
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	st := s.result()
	s.Equal(contract.StateSynced, st.SyncState)
	s.Equal("PRJ1-I-12", st.AhaReference)
	s.True(st.Pushed && st.Stamped && st.WrittenBack)
	s.Require().Len(s.pushes, 1)
	s.False(s.pushes[0].LookupFirst, "a first run creates without a lookup")
	s.Equal([]activities.StampRequest{{IdeaID: "6776", FeedbackID: "1001", Kind: "idea"}}, s.stamps)
	s.Equal([]activities.WriteBackRequest{{FeedbackID: "1001", AhaReference: "PRJ1-I-12", AhaURL: "http://aha/ideas/PRJ1-I-12", Macro: "push-to-aha"}}, s.writeBacks)
}

func (s *MacroSuite) TestAdoptedIdeaIsNotStampedAgain() {
	s.pushFn = func(context.Context, activities.PushRequest) (activities.PushResult, error) {
		return activities.PushResult{Kind: "idea", ID: "6776", Reference: "PRJ1-I-12", Adopted: true, Stamped: true}, nil
	}
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	st := s.result()
	s.True(st.Adopted)
	s.Empty(s.stamps)
	s.Len(s.writeBacks, 1, "the link is still written back")
}

func (s *MacroSuite) TestCommentWritesNothingBack() {
	s.planFn = func(req activities.PlanMacroRequest) (activities.MacroPlan, error) {
		return activities.MacroPlan{Macro: req.Macro, Action: mapping.ActionComment, FeedbackID: "1001", Body: json.RawMessage(`{"body":"<p>hi</p>"}`)}, nil
	}
	s.pushFn = func(context.Context, activities.PushRequest) (activities.PushResult, error) {
		return activities.PushResult{Kind: "idea", ID: "PRJ1-I-12", Reference: "PRJ1-I-12"}, nil
	}
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	s.Equal(contract.StateSynced, s.result().SyncState)
	s.Empty(s.stamps)
	s.Empty(s.writeBacks)
}

// A 403 (permanent) parks the run with Aha!'s text; retry pushes again
// (looking up first, in case an earlier attempt committed) and completes once.
func (s *MacroSuite) TestPermanentErrorParksThenRetryCompletes() {
	denied := true
	s.pushFn = func(_ context.Context, req activities.PushRequest) (activities.PushResult, error) {
		if denied {
			return activities.PushResult{}, temporal.NewApplicationErrorWithOptions(
				"create idea in product PRJ1 for Centercode feedback 1001: aha: POST /api/v1/products/PRJ1/ideas: 403 Forbidden: Access denied",
				activities.ErrTypePermanent, temporal.ApplicationErrorOptions{NonRetryable: true})
		}
		return activities.PushResult{Kind: "idea", ID: "6776", Reference: "PRJ1-I-12", Created: true}, nil
	}
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(contract.StateParked, st.SyncState)
		s.Contains(st.ParkedReason, "403 Forbidden: Access denied")
		s.Len(s.pushes, 1, "a permanent error is not retried by the activity")
		denied = false
		s.env.SignalWorkflow(contract.SignalRetry, nil)
	}, time.Minute)
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	st := s.result()
	s.Equal(contract.StateSynced, st.SyncState)
	s.Equal(1, st.Retries)
	s.Require().Len(s.pushes, 2)
	s.True(s.pushes[1].LookupFirst, "the retry looks the idea up before creating")
	s.Len(s.stamps, 1)
	s.Len(s.writeBacks, 1)
}

// A failed stamp parks after the create; retry stamps without creating again.
func (s *MacroSuite) TestRetryResumesAfterTheLastStepDone() {
	fail := true
	s.stampFn = func(activities.StampRequest) error {
		if fail {
			return temporal.NewNonRetryableApplicationError("stamp: 404 Not Found: Integration not found", activities.ErrTypeNotFound, nil)
		}
		return nil
	}
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateParked, s.query().SyncState)
		fail = false
		s.env.SignalWorkflow(contract.SignalRetry, nil)
	}, time.Minute)
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	st := s.result()
	s.Equal(contract.StateSynced, st.SyncState)
	s.Len(s.pushes, 1, "the idea is created once")
	s.Equal(1, s.plans)
	s.Len(s.stamps, 2)
}

func (s *MacroSuite) TestParkedRunSkip() {
	s.planFn = func(activities.PlanMacroRequest) (activities.MacroPlan, error) {
		return activities.MacroPlan{}, temporal.NewNonRetryableApplicationError(`title: the body has no "title"`, activities.ErrTypeMapping, nil)
	}
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(contract.StateParked, st.SyncState)
		s.Contains(st.ParkedReason, `the body has no "title"`)
		s.env.SignalWorkflow(contract.SignalSkip, nil)
	}, time.Minute)
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	st := s.result()
	s.Equal(contract.StateSkipped, st.SyncState)
	s.Empty(s.pushes)
}

// A parked macro run answers the retry Update with what it was parked on
// (and a skip Update before it parks is refused: nothing to skip).
func (s *MacroSuite) TestRetryUpdateAnswersAParkedRun() {
	denied := true
	s.pushFn = func(_ context.Context, req activities.PushRequest) (activities.PushResult, error) {
		if denied {
			return activities.PushResult{}, temporal.NewNonRetryableApplicationError("create idea: 403 Forbidden", activities.ErrTypePermanent, nil)
		}
		return activities.PushResult{Kind: "idea", ID: "6776", Reference: "PRJ1-I-12", Created: true}, nil
	}
	answers := map[string]string{}
	callbacks := func(id string) *testsuite.TestUpdateCallback {
		return &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { answers[id] = "rejected: " + err.Error() },
			OnComplete: func(v any, err error) { a, _ := v.(string); answers[id] = a },
		}
	}
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateParked, s.query().SyncState)
		denied = false
		s.env.UpdateWorkflow(contract.UpdateRetry, "u1", callbacks("u1"), contract.RetryRequest{})
	}, time.Minute)
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	st := s.result()
	s.Equal(contract.StateSynced, st.SyncState)
	s.Equal(1, st.Retries)
	s.Contains(answers["u1"], "retried: parked on create idea: 403 Forbidden since ")
}

// Transient errors retry inside the activity (1 s, doubling) and honour the
// server's NextRetryDelay.
func (s *MacroSuite) TestTransientErrorsRetryWithServerDelay() {
	calls := 0
	var times []time.Time
	s.pushFn = func(ctx context.Context, req activities.PushRequest) (activities.PushResult, error) {
		calls++
		times = append(times, s.env.Now())
		switch calls {
		case 1:
			return activities.PushResult{}, temporal.NewApplicationErrorWithOptions("429", activities.ErrTypeTransient,
				temporal.ApplicationErrorOptions{NextRetryDelay: 30 * time.Second})
		case 2:
			return activities.PushResult{}, temporal.NewApplicationError("504", activities.ErrTypeTransient)
		}
		return activities.PushResult{Kind: "idea", ID: "6776", Reference: "PRJ1-I-12", Created: true}, nil
	}
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	st := s.result()
	s.Equal(contract.StateSynced, st.SyncState)
	s.Equal(3, calls)
	s.Require().Len(times, 3)
	s.GreaterOrEqual(times[1].Sub(times[0]), 30*time.Second, "NextRetryDelay honoured")
}

func (s *MacroSuite) TestSearchAttributesAndID() {
	s.Equal("macro:push-to-aha:1001:run-1", contract.MacroWorkflowID("push-to-aha", "1001", "run-1"))
	var last temporal.SearchAttributes
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		last = args.Get(0).(temporal.SearchAttributes)
	}).Return(nil)
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	s.result()
	for key, want := range map[temporal.SearchAttributeKeyKeyword]string{
		contract.KeyMacro: "push-to-aha", contract.KeyCentercodeFeedbackID: "1001", contract.KeySyncState: contract.StateSynced, contract.KeyAhaReference: "PRJ1-I-12",
	} {
		v, ok := last.GetKeyword(key)
		s.True(ok, key.GetName())
		s.Equal(want, v, key.GetName())
	}
}

// The config's retry settings (sync.retry_for, sync.retry_max_interval) come
// with the plan and shape every far-side call; each call has a heartbeat
// timeout, so a dead worker's call moves on within 20 s.
func (s *MacroSuite) TestCallsRetryAsTheConfigSays() {
	for _, tc := range []struct {
		name             string
		retryFor, maxInt time.Duration
		wantFor, wantMax time.Duration
	}{
		{"configured", 3 * time.Hour, 7 * time.Second, 3 * time.Hour, 7 * time.Second},
		{"defaults", 0, 0, 24 * time.Hour, 5 * time.Minute},
	} {
		s.Run(tc.name, func() {
			s.SetupTest()
			plan := s.planFn
			s.planFn = func(req activities.PlanMacroRequest) (activities.MacroPlan, error) {
				p, err := plan(req)
				p.RetryFor, p.RetryMaxInterval = tc.retryFor, tc.maxInt
				return p, err
			}
			seen := recordActivityOptions(s.env)
			s.env.ExecuteWorkflow(MacroWorkflow, s.input())
			s.Equal(contract.StateSynced, s.result().SyncState)
			for _, name := range []string{"PushToAha", "StampAhaRecord", "WriteBackLink"} {
				o, ok := seen.get(name)
				s.Require().True(ok, name)
				s.Require().NotNil(o.RetryPolicy, name)
				s.Equal(tc.wantMax, o.RetryPolicy.MaximumInterval, name)
				s.Equal(time.Second, o.RetryPolicy.InitialInterval, name)
				s.Equal(tc.wantFor, o.ScheduleToCloseTimeout, name)
				s.Equal(20*time.Second, o.HeartbeatTimeout, name)
			}
		})
	}
}

// An idea adopted as an earlier attempt's unstamped twin gets its stamp.
func (s *MacroSuite) TestAdoptedTwinIsStamped() {
	s.pushFn = func(context.Context, activities.PushRequest) (activities.PushResult, error) {
		return activities.PushResult{Kind: "idea", ID: "6776", Reference: "PRJ1-I-12", Adopted: true}, nil
	}
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	s.Equal(contract.StateSynced, s.result().SyncState)
	s.Equal([]activities.StampRequest{{IdeaID: "6776", FeedbackID: "1001", Kind: "idea"}}, s.stamps)
}

// A feature a macro creates is stamped as an idea is, so its creation
// webhook is recognised as ahacc's own (no echo feedback).
func (s *MacroSuite) TestCreatedFeatureIsStamped() {
	s.planFn = func(req activities.PlanMacroRequest) (activities.MacroPlan, error) {
		return activities.MacroPlan{Macro: req.Macro, Action: mapping.ActionCreateFeature, Release: "PRJ1-R-1", FeedbackID: "1001",
			Body: json.RawMessage(`{"name":"Crash on save"}`)}, nil
	}
	s.pushFn = func(context.Context, activities.PushRequest) (activities.PushResult, error) {
		return activities.PushResult{Kind: "feature", ID: "7001", Reference: "PRJ1-12", Created: true}, nil
	}
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	s.Equal(contract.StateSynced, s.result().SyncState)
	s.Equal([]activities.StampRequest{{IdeaID: "7001", FeedbackID: "1001", Kind: "feature"}}, s.stamps)
	s.Len(s.writeBacks, 1)
}

// A later run for the feedback, handed over while this run pushes (a person
// clicking after the Will Fix rule fired), is run after it with its own body:
// planned and pushed again (the feedback is linked by then: on_linked), and
// the link written back again. Its repeat is dropped.
func (s *MacroSuite) TestLaterRunIsRunAfterThisOne() {
	var plans []string
	s.planFn = func(req activities.PlanMacroRequest) (activities.MacroPlan, error) {
		plans = append(plans, string(req.Payload))
		return activities.MacroPlan{Macro: req.Macro, Action: mapping.ActionCreateIdea, Product: "PRJ1", FeedbackID: "1001", Body: req.Payload}, nil
	}
	first := true
	s.pushFn = func(ctx context.Context, req activities.PushRequest) (activities.PushResult, error) {
		if first {
			first = false
			later := contract.MacroRunRequest{RunKey: "run-2", Trigger: contract.TriggerWebhook, Payload: json.RawMessage(`{"title":"later"}`)}
			s.env.SignalWorkflow(contract.SignalRunAgain, later)
			s.env.SignalWorkflow(contract.SignalRunAgain, later) // its redelivery
			s.env.SignalWorkflow(contract.SignalRunAgain, contract.MacroRunRequest{RunKey: "run-1"})
			return activities.PushResult{Kind: "idea", ID: "6776", Reference: "PRJ1-I-12", Created: true}, nil
		}
		return activities.PushResult{Kind: "idea", ID: "6776", Reference: "PRJ1-I-12", Adopted: true, Stamped: true, Linked: "updated"}, nil
	}
	s.env.ExecuteWorkflow(MacroWorkflow, s.input())
	st := s.result()
	s.Equal(contract.StateSynced, st.SyncState)
	s.Equal([]string{`{"feedbackId":1001,"title":"Crash on save"}`, `{"title":"later"}`}, plans)
	s.Equal("run-2", st.RunKey)
	s.Equal(1, st.Runs)
	s.Equal("updated", st.Linked)
	s.Len(s.stamps, 1, "stamped once")
	s.Len(s.writeBacks, 2)
}

// A later run arriving while this run is parked retries it with the later
// body (the person fixed the feedback and clicked again).
func (s *MacroSuite) TestLaterRunRetriesAParkedRun() {
	s.planFn = func(req activities.PlanMacroRequest) (activities.MacroPlan, error) {
		if string(req.Payload) == `{"title":""}` {
			return activities.MacroPlan{}, temporal.NewNonRetryableApplicationError("name: required", activities.ErrTypeMapping, nil)
		}
		return activities.MacroPlan{Macro: req.Macro, Action: mapping.ActionCreateIdea, Product: "PRJ1", FeedbackID: "1001", Body: req.Payload}, nil
	}
	in := s.input()
	in.Payload = json.RawMessage(`{"title":""}`)
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateParked, s.query().SyncState)
		s.env.SignalWorkflow(contract.SignalRunAgain, contract.MacroRunRequest{RunKey: "run-2", Trigger: contract.TriggerWebhook, Payload: json.RawMessage(`{"title":"fixed"}`)})
	}, time.Minute)
	s.env.ExecuteWorkflow(MacroWorkflow, in)
	st := s.result()
	s.Equal(contract.StateSynced, st.SyncState)
	s.Equal("run-2", st.RunKey)
	s.Len(s.pushes, 1)
}
