package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

type FeedbackSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	runs    []MacroInput
	ids     []string
	rules   map[string][]activities.RuleAction // lower-cased status → actions
	creates map[string]string                  // create macros' actions, as MacroInfo says
	at      time.Duration
}

func TestFeedbackSuite(t *testing.T) { suite.Run(t, new(FeedbackSuite)) }

func (s *FeedbackSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterActivity(&activities.Activities{})
	s.env.RegisterWorkflow(MacroWorkflow)
	s.runs, s.ids, s.at = nil, nil, 0
	s.rules = map[string][]activities.RuleAction{"will fix": {{Macro: "push-to-aha"}}}
	s.env.OnActivity(a.StatusRulesFor, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.RulesRequest) (activities.Rules, error) {
			return activities.Rules{Actions: s.rules[strings.ToLower(req.Status)], ConfigHash: "cfg1"}, nil
		}).Maybe()
	s.creates = map[string]string{}
	s.env.OnActivity(a.MacroInfo, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.MacroInfoRequest) (activities.RuleAction, error) {
			return activities.RuleAction{Macro: req.Macro, Creates: s.creates[req.Macro]}, nil
		}).Maybe()
	s.env.OnWorkflow(MacroWorkflow, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in MacroInput) (MacroState, error) {
			s.mu.Lock()
			s.runs = append(s.runs, in)
			s.ids = append(s.ids, workflow.GetInfo(ctx).WorkflowExecution.ID)
			s.mu.Unlock()
			return MacroState{Macro: in.Macro, SyncState: contract.StateSynced}, nil
		}).Maybe()
}

// send schedules a signal a minute after the previous one.
func (s *FeedbackSuite) send(name string, arg any) {
	s.at += time.Minute
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(name, arg) }, s.at)
}

func (s *FeedbackSuite) change(key, status string) {
	s.send(contract.SignalStatusChanged, contract.StatusChange{Key: key, Status: status,
		Payload: json.RawMessage(fmt.Sprintf(`{"feedbackId":1001,"status":%q,"title":"Crash"}`, status))})
}

func (s *FeedbackSuite) query() FeedbackState {
	v, err := s.env.QueryWorkflow(contract.QueryState)
	s.Require().NoError(err)
	var st FeedbackState
	s.Require().NoError(v.Get(&st))
	return st
}

// end checks the state after the scripted signals and stops the endless entity.
func (s *FeedbackSuite) end(check func(FeedbackState)) {
	s.env.RegisterDelayedCallback(func() {
		check(s.query())
		s.env.CancelWorkflow()
	}, s.at+time.Minute)
	s.env.ExecuteWorkflow(FeedbackWorkflow, FeedbackInput{FeedbackID: "1001"})
	s.True(s.env.IsWorkflowCompleted())
}

func (s *FeedbackSuite) macros() []string {
	var out []string
	for _, r := range s.runs {
		out = append(out, r.Macro+"@"+r.RunKey)
	}
	return out
}

// Will Fix → (duplicate delivery) → New → Will Fix runs the macro once: the
// rule has every_time off.
func (s *FeedbackSuite) TestOncePerTransitionAndOnlyFirstWithoutEveryTime() {
	s.change("run-1", "Will Fix")
	s.change("run-1", "Will Fix") // the duplicate delivery
	s.change("run-2", "Will Fix") // same status again, another key: no transition
	s.change("run-3", "New")
	s.change("run-4", "Will Fix")
	s.end(func(st FeedbackState) {
		s.Equal([]string{"push-to-aha@run-1"}, s.macros())
		s.Equal([]string{"macro:push-to-aha:1001:run-1"}, s.ids)
		s.Equal(3, st.Transitions)
		s.Equal(1, st.Duplicates)
		s.Equal("Will Fix", st.Status)
		s.Equal(map[string]int{"will fix|push-to-aha": 1}, st.Fired)
		s.Require().Len(st.Runs, 1)
		s.Equal(contract.TriggerStatus, st.Runs[0].Trigger)
	})
	s.Equal("1001", s.runs[0].FeedbackID)
	s.Contains(string(s.runs[0].Payload), `"title":"Crash"`, "the macro maps the status webhook's body")
}

func (s *FeedbackSuite) TestEveryTimeRunsOnEachTransition() {
	s.rules["will fix"] = []activities.RuleAction{{Macro: "push-to-aha", EveryTime: true}}
	s.rules["closed"] = []activities.RuleAction{{Macro: "status-to-aha"}}
	s.change("run-1", "Will Fix")
	s.change("run-2", "New")
	s.change("run-3", "Will Fix")
	s.change("run-4", "Closed")
	s.end(func(st FeedbackState) {
		s.Equal([]string{"push-to-aha@run-1", "push-to-aha@run-3", "status-to-aha@run-4"}, s.macros())
		s.Equal(4, st.Transitions)
	})
}

func (s *FeedbackSuite) TestRunMacroSignal() {
	s.change("run-1", "In Review") // no rule: only remembered
	s.send(contract.SignalRunMacro, contract.RunMacro{Macro: "comment-to-aha"})
	s.send(contract.SignalRunMacro, contract.RunMacro{Macro: "push-to-aha", Key: "op-a"})
	s.send(contract.SignalRunMacro, contract.RunMacro{Macro: "push-to-aha", Key: "op-a"}) // same key: once
	s.end(func(st FeedbackState) {
		s.Equal([]string{"comment-to-aha@op1", "push-to-aha@op-a"}, s.macros())
		s.Equal(1, st.Duplicates)
		s.Equal(contract.TriggerOperator, s.runs[0].Trigger)
		s.Contains(string(s.runs[0].Payload), `"status":"In Review"`, "operator runs map the last status body")
	})
}

// updateAt sends an Update a minute after the previous step; check gets its
// answer (or the validator's refusal as an error).
func (s *FeedbackSuite) updateAt(name, id string, answered *int, check func(string, error), arg any) {
	s.at += time.Minute
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { check("", err); *answered++ },
			OnComplete: func(v any, err error) {
				answer, _ := v.(string)
				check(answer, err)
				*answered++
			},
		}, arg)
	}, s.at)
}

// The run-macro Update answers which run it started, that a key ran before,
// or — without a macro name — is refused by its validator.
func (s *FeedbackSuite) TestRunMacroUpdateAnswers() {
	answered := 0
	s.change("run-1", "In Review")
	s.updateAt(contract.UpdateRunMacro, "u1", &answered, func(answer string, err error) {
		s.NoError(err)
		s.Equal("started macro push-to-aha: macro:push-to-aha:1001:op-a", answer)
	}, contract.RunMacro{Macro: "push-to-aha", Key: "op-a"})
	s.updateAt(contract.UpdateRunMacro, "u2", &answered, func(answer string, err error) {
		s.NoError(err)
		s.Equal("not run: key op-a was run before", answer)
	}, contract.RunMacro{Macro: "push-to-aha", Key: "op-a"})
	s.updateAt(contract.UpdateRunMacro, "u3", &answered, func(_ string, err error) {
		s.ErrorContains(err, "run-macro needs a macro name")
	}, contract.RunMacro{})
	s.end(func(st FeedbackState) {
		s.Equal([]string{"push-to-aha@op-a"}, s.macros())
		s.Equal(3, answered, "every Update answered")
	})
}

// A status ahacc set itself (announced with expect-status) comes back as a
// status-changed webhook: recognised, no macro. A later real change does fire.
func (s *FeedbackSuite) TestOwnStatusChangeIsNotAnEcho() {
	s.send(contract.SignalExpectStatus, contract.ExpectStatus{Status: "Will Fix"})
	s.change("run-1", "will fix")
	s.change("run-2", "New")
	s.change("run-3", "Will Fix")
	s.end(func(st FeedbackState) {
		s.Equal(1, st.Echoes)
		s.Empty(st.Expected)
		s.Equal([]string{"push-to-aha@run-3"}, s.macros(), "only the real transition runs the macro")
	})
}

func TestFeedbackContinuesAsNewWithState(t *testing.T) {
	defer func(n int) { feedbackEventsPerRun = n }(feedbackEventsPerRun)
	feedbackEventsPerRun = 4
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.RegisterWorkflow(MacroWorkflow)
	env.OnActivity(a.StatusRulesFor, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.RulesRequest) (activities.Rules, error) {
			if req.Status == "Will Fix" {
				return activities.Rules{Actions: []activities.RuleAction{{Macro: "push-to-aha"}}}, nil
			}
			return activities.Rules{}, nil
		})
	var runs int
	env.OnWorkflow(MacroWorkflow, mock.Anything, mock.Anything).Return(
		func(workflow.Context, MacroInput) (MacroState, error) { runs++; return MacroState{}, nil })
	for i, st := range []string{"Will Fix", "New", "Will Fix", "New", "Will Fix"} {
		i, st := i, st
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(contract.SignalStatusChanged, contract.StatusChange{Key: fmt.Sprint("k", i), Status: st})
		}, time.Duration(i+1)*time.Second)
	}
	env.ExecuteWorkflow(FeedbackWorkflow, FeedbackInput{FeedbackID: "7"})
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "got %v", env.GetWorkflowError())
	var next FeedbackInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Carried)
	require.Equal(t, "7", next.FeedbackID)
	require.Equal(t, 1, next.Carried.Fired["will fix|push-to-aha"], "the next run knows the rule already ran")
	require.Len(t, next.Carried.Seen, 4)
	require.Equal(t, 1, runs)
}

// wait advances the script clock by d (beyond send's minute).
func (s *FeedbackSuite) wait(d time.Duration) { s.at += d }

// A listener call retried after a 503 announces the same status twice; one
// echo comes back. The leftover must not swallow a person's later change
// into that status (one expectation per status).
func (s *FeedbackSuite) TestRepeatedExpectationIsOne() {
	s.send(contract.SignalExpectStatus, contract.ExpectStatus{Status: "Will Fix"}) // attempt 1 (listener 503)
	s.send(contract.SignalExpectStatus, contract.ExpectStatus{Status: "Will Fix"}) // attempt 2 (listener 200)
	s.change("echo-1", "Will Fix")
	s.change("human-1", "New")
	s.change("human-2", "Will Fix")
	s.end(func(st FeedbackState) {
		s.Equal([]string{"push-to-aha@human-2"}, s.macros(), "the person's transition into Will Fix runs its macro")
		s.Equal(1, st.Echoes)
		s.Empty(st.Expecting)
	})
}

// An expectation whose echo never comes (the listener failed for good)
// expires: a person's change into that status after the window is real.
func (s *FeedbackSuite) TestExpectationExpires() {
	s.send(contract.SignalExpectStatus, contract.ExpectStatus{Status: "Will Fix", For: 10 * time.Minute})
	s.wait(10 * time.Minute)
	s.change("human-1", "Will Fix")
	s.end(func(st FeedbackState) {
		s.Equal([]string{"push-to-aha@human-1"}, s.macros())
		s.Zero(st.Echoes)
		s.Empty(st.Expecting)
	})
}

// ahacc setting a status the feedback already has makes Centercode send no
// webhook: no expectation is kept for it.
func (s *FeedbackSuite) TestNoExpectationForTheCurrentStatus() {
	s.rules["fixed"] = []activities.RuleAction{{Macro: "status-to-aha", EveryTime: true}}
	s.change("human-1", "Fixed")
	s.send(contract.SignalExpectStatus, contract.ExpectStatus{Status: "fixed"}) // from Aha!, already Fixed here
	s.change("human-2", "New")
	s.change("human-3", "Fixed")
	s.end(func(st FeedbackState) {
		s.Equal([]string{"status-to-aha@human-1", "status-to-aha@human-3"}, s.macros())
		s.Zero(st.Echoes)
	})
}

// startFails makes the first child start of the run fail (not "already
// started"), as a namespace or server error would.
type startFails struct {
	interceptor.WorkerInterceptorBase
	failed *bool
	err    error // the first start's error (nil: namespace unavailable)
}

func (i *startFails) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &startFailsInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, failed: i.failed, err: i.err}
}

type startFailsInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	failed *bool
	err    error
}

func (i *startFailsInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&startFailsOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, failed: i.failed, err: i.err})
}

type startFailsOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	failed *bool
	err    error
}

type failedChild struct{ workflow.Future }

func (f failedChild) GetChildWorkflowExecution() workflow.Future { return f.Future }
func (f failedChild) SignalChildWorkflow(workflow.Context, string, any) workflow.Future {
	return f.Future
}

func (o *startFailsOutbound) ExecuteChildWorkflow(ctx workflow.Context, childWorkflowType string, args ...any) workflow.ChildWorkflowFuture {
	if *o.failed {
		return o.Next.ExecuteChildWorkflow(ctx, childWorkflowType, args...)
	}
	*o.failed = true
	fut, set := workflow.NewFuture(ctx)
	err := o.err
	if err == nil {
		err = errors.New("namespace unavailable")
	}
	set.SetError(err)
	return failedChild{fut}
}

// A rule whose child could not start is not marked as run: the next
// transition into the status runs it.
func (s *FeedbackSuite) TestRuleNotMarkedRunWhenStartFails() {
	failed := false
	s.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&startFails{failed: &failed}}})
	s.change("run-1", "Will Fix") // the start fails
	s.change("run-2", "New")
	s.change("run-3", "Will Fix")
	s.end(func(st FeedbackState) {
		s.True(failed)
		s.Equal([]string{"push-to-aha@run-3"}, s.macros())
		s.Equal(map[string]int{"will fix|push-to-aha": 1}, st.Fired)
	})
}

// A create macro's run that finds its id taken hands itself to the run in
// flight; when that run ended between the start and the hand-off (the
// signal finds no workflow), the run is started again, not dropped: the
// person's Will Fix still pushes (invariant seed 4 on the cluster).
func (s *FeedbackSuite) TestRunStartedAgainWhenTheRunInFlightEnded() {
	s.rules["will fix"] = []activities.RuleAction{{Macro: "push-to-aha", Creates: "create_idea"}}
	s.creates["push-to-aha"] = "create_idea"
	failed := false
	s.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&startFails{failed: &failed,
		err: serviceerror.NewWorkflowExecutionAlreadyStarted("a run of macro:create_idea:1001 is in flight", "", "")}}})
	s.env.OnSignalExternalWorkflow(mock.Anything, "macro:create_idea:1001", mock.Anything, contract.SignalRunAgain, mock.Anything).
		Return(&temporal.UnknownExternalWorkflowExecutionError{}).Once()
	s.change("run-1", "Will Fix")
	s.end(func(st FeedbackState) {
		s.True(failed)
		s.Equal([]string{"push-to-aha@run-1"}, s.macros(), "the rule's run was started again")
		s.Equal(map[string]int{"will fix|push-to-aha": 1}, st.Fired)
	})
}

// A create macro's runs for one feedback share one workflow id, so two at
// once cannot each create an idea: the rule's and the operator's runs here
// are one after the other, under macro:create_idea:1001.
func (s *FeedbackSuite) TestCreateMacroRunsShareOneID() {
	s.rules["will fix"] = []activities.RuleAction{{Macro: "push-to-aha", EveryTime: true, Creates: "create_idea"}}
	s.creates["push-to-aha"] = "create_idea"
	s.change("run-1", "Will Fix")
	s.change("run-2", "New")
	s.change("run-3", "Will Fix")
	s.send(contract.SignalRunMacro, contract.RunMacro{Macro: "push-to-aha", Key: "op-a"})
	s.send(contract.SignalRunMacro, contract.RunMacro{Macro: "comment-to-aha", Key: "op-b"})
	s.end(func(st FeedbackState) {
		s.Equal([]string{"push-to-aha@run-1", "push-to-aha@run-3", "push-to-aha@op-a", "comment-to-aha@op-b"}, s.macros())
		s.Equal([]string{"macro:create_idea:1001", "macro:create_idea:1001", "macro:create_idea:1001", "macro:comment-to-aha:1001:op-b"}, s.ids)
	})
}
