package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/internal/contract"
)

// creates counts the submits that created (no feedback id).
func (s *AhaRecordSuite) creates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.submits {
		if r.FeedbackID == "" {
			n++
		}
	}
	return n
}

// findFn answers FindFeedback (the lookup before a write that may follow a
// committed create); finds counts the calls.
func (s *AhaRecordSuite) onFind(fn func(activities.FindFeedbackRequest) (activities.FindFeedbackResult, error)) *int {
	n := new(int)
	s.env.OnActivity(a.FindFeedback, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.FindFeedbackRequest) (activities.FindFeedbackResult, error) {
			s.mu.Lock()
			*n++
			s.mu.Unlock()
			return fn(req)
		}).Maybe()
	return n
}

func (s *AhaRecordSuite) rename(at time.Duration, name, auditID string) {
	s.env.RegisterDelayedCallback(func() {
		s.mu.Lock()
		s.name = name
		s.mu.Unlock()
		s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: auditID, Action: "update"})
	}, at)
}

// firstSubmit makes the first submit answer res and err; later ones update
// the feedback they name, or create newID.
func (s *AhaRecordSuite) firstSubmit(res activities.SubmitResult, err error, newID string) {
	first := true
	s.submitFn = func(req activities.SubmitRequest) (activities.SubmitResult, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.submits = append(s.submits, req)
		if first {
			first = false
			return res, err
		}
		if req.FeedbackID != "" {
			return activities.SubmitResult{FeedbackID: req.FeedbackID}, nil
		}
		return activities.SubmitResult{FeedbackID: newID}, nil
	}
}

// A create answered 2xx without an id is not created again by later syncs
// of the unchanged record (the reviewer's scenario: 3 creates).
func (s *AhaRecordSuite) TestCreateWithoutIDIsNotRepeated() {
	s.submitFn = func(req activities.SubmitRequest) (activities.SubmitResult, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.submits = append(s.submits, req)
		return activities.SubmitResult{IDUnknown: true}, nil
	}
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.signal(10*time.Second, contract.AhaEvent{AuditID: "2", Action: "update"})
	s.signal(20*time.Second, contract.AhaEvent{AuditID: "3", Action: "update"})
	s.end(30*time.Second, func() {
		s.Equal(1, s.creates(), "one create; the unchanged record writes nothing more")
		st := s.query()
		s.True(st.Links[0].MaybeCreated)
	})
	s.run()
}

// After a create without an id, the next write looks the feedback up first
// and updates what it finds.
func (s *AhaRecordSuite) TestChangeAfterCreateWithoutIDLooksUpThenUpdates() {
	s.firstSubmit(activities.SubmitResult{IDUnknown: true}, nil, "")
	finds := s.onFind(func(req activities.FindFeedbackRequest) (activities.FindFeedbackResult, error) {
		s.Equal("PRJ1-I-10", req.Reference)
		return activities.FindFeedbackResult{FeedbackID: "4821"}, nil
	})
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.rename(10*time.Second, "v2", "2")
	s.end(30*time.Second, func() {
		s.Equal(1, *finds)
		s.Equal(1, s.creates())
		s.Require().Len(s.submits, 2)
		s.Equal("4821", s.submits[1].FeedbackID, "the change updates the feedback found")
		st := s.query()
		s.Equal("4821", st.Links[0].FeedbackID)
		s.False(st.Links[0].MaybeCreated)
	})
	s.run()
}

// Without a lookup, a record whose create may have committed parks with
// that reason instead of creating again; retry with {"create": true} (the
// operator checked Centercode) creates.
func (s *AhaRecordSuite) TestNoLookupParksInsteadOfCreatingAgain() {
	s.firstSubmit(activities.SubmitResult{IDUnknown: true}, nil, "4900")
	s.onFind(func(activities.FindFeedbackRequest) (activities.FindFeedbackResult, error) {
		return activities.FindFeedbackResult{}, temporal.NewNonRetryableApplicationError("Centercode may have created bugs feedback for PRJ1-I-10 already …", activities.ErrTypeConfig, nil)
	})
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.rename(10*time.Second, "v2", "2")
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(contract.StateParked, st.SyncState)
		s.Contains(st.ParkedReason, "may have created")
		s.Equal(1, s.creates(), "not created again")
		s.env.SignalWorkflow(contract.SignalRetry, contract.RetryRequest{Create: true})
	}, 20*time.Second)
	s.end(40*time.Second, func() {
		st := s.query()
		s.Equal(contract.StateSynced, st.SyncState)
		s.Equal(2, s.creates(), "the operator's retry with create: true created")
		s.Equal("4900", st.Links[0].FeedbackID)
	})
	s.run()
}

// A create that failed in a way that may have committed (the retries ran
// out on 5xx answers) parks; the operator's retry looks up before creating.
func (s *AhaRecordSuite) TestRetryAfterAmbiguousFailureLooksUpFirst() {
	s.firstSubmit(activities.SubmitResult{},
		temporal.NewNonRetryableApplicationError("create bugs feedback: 504 (may have committed)", activities.ErrTypeAmbiguous, nil), "5000")
	finds := s.onFind(func(activities.FindFeedbackRequest) (activities.FindFeedbackResult, error) {
		return activities.FindFeedbackResult{FeedbackID: "4821"}, nil
	})
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() {
		s.Equal(contract.StateParked, s.query().SyncState)
		s.env.SignalWorkflow(contract.SignalRetry, nil)
	}, 10*time.Second)
	s.end(30*time.Second, func() {
		st := s.query()
		s.Equal(contract.StateSynced, st.SyncState)
		s.Equal(1, *finds)
		s.Equal(1, s.creates(), "adopted, not created again")
		s.Equal("4821", st.Links[0].FeedbackID)
	})
	s.run()
}

// A create Centercode refused (400) committed nothing: the retry creates
// without a lookup.
func (s *AhaRecordSuite) TestRetryAfterRejectedCreateNeedsNoLookup() {
	s.firstSubmit(activities.SubmitResult{},
		temporal.NewNonRetryableApplicationError("create bugs feedback: 400 unknown submitter", activities.ErrTypeRejected, nil), "5000")
	finds := s.onFind(func(activities.FindFeedbackRequest) (activities.FindFeedbackResult, error) {
		return activities.FindFeedbackResult{}, nil
	})
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(contract.SignalRetry, nil) }, 10*time.Second)
	s.end(30*time.Second, func() {
		s.Equal(contract.StateSynced, s.query().SyncState)
		s.Zero(*finds)
		s.Equal(2, s.creates())
	})
	s.run()
}

// A deleted record's workflow ends once on_destroy is applied; a later
// record with the same id starts afresh.
func (s *AhaRecordSuite) TestDestroyedRecordCompletes() {
	var destroyed int
	s.env.OnActivity(a.NotifyDestroyed, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.DestroyRequest) error { destroyed++; return nil })
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.signal(10*time.Second, contract.AhaEvent{AuditID: "2", Action: "destroy"})
	s.env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError(), "completed, not cancelled or continued")
	s.Equal(1, destroyed)
}

// A record parked on its own content (a value the mapping refuses) syncs
// again on its next change in Aha! — the admin fixing the value needs no
// operator; one parked on a far-side refusal (403) waits for one.
func (s *AhaRecordSuite) TestContentParkRetriesOnTheNextChange() {
	bad := true
	s.mapFn = func(req activities.MapRequest) (activities.Mapped, error) {
		if bad {
			return activities.Mapped{}, temporal.NewNonRetryableApplicationError(`Severity: "P0" is not one of Critical, Major, Minor, Trivial`, activities.ErrTypeMapping, nil)
		}
		return activities.Mapped{FeedbackType: req.FeedbackType, Body: req.Record, Hash: "h-" + string(req.Record), Reference: "PRJ1-I-10"}, nil
	}
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() {
		st := s.query()
		s.Equal(contract.StateParked, st.SyncState)
		s.True(st.ParkedOnContent)
		bad = false // the admin sets a severity the mapping knows
		s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "2", Action: "update"})
	}, 10*time.Second)
	s.end(30*time.Second, func() {
		st := s.query()
		s.Equal(contract.StateSynced, st.SyncState)
		s.Equal(1, s.creates())
	})
	s.run()
}

func (s *AhaRecordSuite) TestFarSideParkWaitsForTheOperator() {
	s.fetchFn = func(activities.FetchRequest) (activities.Record, error) {
		return activities.Record{}, temporal.NewNonRetryableApplicationError("fetch Aha! idea 6776: 403 Forbidden", activities.ErrTypePermanent, nil)
	}
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.signal(10*time.Second, contract.AhaEvent{AuditID: "2", Action: "update"})
	s.end(30*time.Second, func() {
		st := s.query()
		s.Equal(contract.StateParked, st.SyncState)
		s.False(st.ParkedOnContent)
		s.Equal(1, st.Syncs, "no sync until an operator sends retry")
	})
	s.run()
}

// A late audit of a record deleted in Aha! (its workflow had ended, or the
// deletion's webhook was lost): the fetch answers Gone, on_destroy is
// applied as for a destroy audit, and the workflow ends — no park.
func (s *AhaRecordSuite) TestGoneRecordIsHandledAsDeleted() {
	var destroyed int
	s.env.OnActivity(a.NotifyDestroyed, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.DestroyRequest) error { destroyed++; return nil }).Maybe()
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.env.RegisterDelayedCallback(func() {
		s.fetchFn = func(activities.FetchRequest) (activities.Record, error) {
			return activities.Record{}, temporal.NewNonRetryableApplicationError("Aha! idea 6776 was deleted", activities.ErrTypeGone, nil)
		}
		s.env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "2", Action: "update"})
	}, 10*time.Second)
	s.env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "6776"})
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	s.Equal(1, destroyed, "on_destroy told the linked feedback")
}

// The lookup after a create that may have committed uses the reference the
// create sent: the record's own may have changed since (moved to another
// workspace), and a lookup by the new one would miss it and create again.
func (s *AhaRecordSuite) TestLookupUsesTheReferenceTheCreateSent() {
	s.mapFn = func(r activities.MapRequest) (activities.Mapped, error) {
		ref := "PRJ1-I-10"
		if string(r.Record) != `{"name":"v1"}` {
			ref = "PRJ2-I-3"
		}
		return activities.Mapped{FeedbackType: r.FeedbackType, Body: r.Record, Hash: "h-" + string(r.Record), Reference: ref}, nil
	}
	s.firstSubmit(activities.SubmitResult{IDUnknown: true}, nil, "9999")
	s.onFind(func(r activities.FindFeedbackRequest) (activities.FindFeedbackResult, error) {
		if r.Reference == "PRJ1-I-10" {
			return activities.FindFeedbackResult{FeedbackID: "4821"}, nil
		}
		return activities.FindFeedbackResult{}, nil
	})
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.rename(10*time.Second, "moved", "2")
	s.end(30*time.Second, func() {
		s.Equal(1, s.creates())
		s.Equal("4821", s.query().Links[0].FeedbackID)
	})
	s.run()
}

// After a deploy, the upgrade signal moves a running record onto the new
// code: it continues as new (state carried) at its next quiet moment.
func TestUpgradeContinuesAsNew(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	stepByStep(env)
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.RoutesFor, mock.Anything, mock.Anything).Return(activities.Routes{FeedbackTypes: []string{"bugs"}}, nil)
	env.OnActivity(a.FetchAhaRecord, mock.Anything, mock.Anything).Return(activities.Record{Reference: "PRJ1-I-1", JSON: []byte(`{}`)}, nil)
	env.OnActivity(a.MapRecord, mock.Anything, mock.Anything).Return(activities.Mapped{Hash: "h"}, nil)
	env.OnActivity(a.SubmitFeedback, mock.Anything, mock.Anything).Return(activities.SubmitResult{FeedbackID: "9"}, nil)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalAhaEvent, contract.AhaEvent{AuditID: "1", Action: "create"}) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalUpgrade, nil) }, time.Minute)
	env.ExecuteWorkflow(AhaRecordWorkflow, AhaRecordInput{Kind: "idea", AhaID: "1"})
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	var next AhaRecordInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, "9", next.Carried.Links[0].FeedbackID)

	env = ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(contract.SignalUpgrade, nil) }, time.Minute)
	env.ExecuteWorkflow(FeedbackWorkflow, FeedbackInput{FeedbackID: "7"})
	require.True(t, env.IsWorkflowCompleted())
	require.ErrorAs(t, env.GetWorkflowError(), &can)
}

// Feedback types that choose by content: the record goes to the one its
// content routes to when it is first written, and stays there when a later
// change would route it elsewhere.
func (s *AhaRecordSuite) TestRoutedByContentAndStays() {
	s.routes = activities.Routes{FeedbackTypes: []string{"bugs", "requests"}, ByContent: true, Debounce: 2 * time.Second}
	var asked int
	s.env.OnActivity(a.RouteRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.RouteRecordRequest) (activities.RouteChoice, error) {
			asked++
			if string(req.Record) == `{"name":"v1"}` {
				return activities.RouteChoice{FeedbackType: "requests", Why: "the catch-all"}, nil
			}
			return activities.RouteChoice{FeedbackType: "bugs", Why: "category Bug"}, nil
		})
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.rename(10*time.Second, "now a bug", "2")
	s.end(30*time.Second, func() {
		st := s.query()
		s.Require().Len(st.Links, 1)
		s.Equal("requests", st.Links[0].FeedbackType, "the type chosen at create stays")
		s.Equal(1, asked, "asked once: the record is linked after")
		s.Require().Len(s.submits, 2)
		s.Equal("requests", s.submits[1].FeedbackType)
		s.Equal("4821", s.submits[1].FeedbackID, "the change updates the same feedback")
	})
	s.run()
}

// A record no type's when: matches is written nowhere, and says why.
func (s *AhaRecordSuite) TestRoutedNowhere() {
	s.routes = activities.Routes{FeedbackTypes: []string{"bugs"}, ByContent: true, Debounce: 2 * time.Second}
	s.env.OnActivity(a.RouteRecord, mock.Anything, mock.Anything).Return(activities.RouteChoice{Why: "no feedback type fed by idea records has a when: that matches"}, nil)
	s.signal(time.Millisecond, contract.AhaEvent{AuditID: "1", Action: "create"})
	s.end(10*time.Second, func() {
		st := s.query()
		s.Equal(contract.StateSynced, st.SyncState)
		s.Empty(st.Links)
		s.Empty(s.submits)
		s.Contains(st.Summary(), "no feedback type fed by idea records has a when: that matches")
	})
	s.run()
}
