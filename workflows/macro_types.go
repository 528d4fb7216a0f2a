package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Signals of the FeedbackWorkflow (sent by the starter, or by an operator from
// the Temporal Web UI).
const (
	// SignalStatusChanged carries one Centercode status change (StatusChange).
	SignalStatusChanged = "status-changed"
	// SignalRunMacro runs one macro on the feedback now (RunMacro).
	SignalRunMacro = "run-macro"
	// SignalExpectStatus announces a status ahacc is about to set itself
	// (ExpectStatus); the matching status-changed is its echo and fires nothing.
	SignalExpectStatus = "expect-status"
	// SignalRunAgain hands a create macro's run in flight a later run for the
	// same feedback (MacroRunRequest).
	SignalRunAgain = "run-again"
)

// MacroRunRequest is a later run of a create macro for a feedback whose run
// is in flight.
type MacroRunRequest struct {
	RunKey  string          `json:"run_key"`
	Trigger string          `json:"trigger"`
	Payload json.RawMessage `json:"payload"`
}

// Macro run triggers.
const (
	TriggerWebhook  = "webhook"  // a Centercode webhook macro called the starter
	TriggerStatus   = "status"   // a status rule fired it (child of FeedbackWorkflow)
	TriggerOperator = "operator" // run-macro signal
)

// MacroInput starts a MacroWorkflow.
type MacroInput struct {
	Macro      string `json:"macro"`
	FeedbackID string `json:"feedback_id"`
	RunKey     string `json:"run_key"`
	Trigger    string `json:"trigger"`
	// Payload is the Centercode macro body (feedback fields; no secrets).
	Payload json.RawMessage `json:"payload"`
}

// MacroState is what a macro run knows, answered by the `state` query.
type MacroState struct {
	Macro      string `json:"macro"`
	FeedbackID string `json:"feedback_id"`
	RunKey     string `json:"run_key"`
	Trigger    string `json:"trigger"`
	Action     string `json:"action,omitempty"`
	// SyncState is Syncing, Synced, Parked or Skipped.
	SyncState    string `json:"sync_state"`
	ParkedReason string `json:"parked_reason,omitempty"`
	// The Aha! record the run created or changed.
	AhaKind      string `json:"aha_kind,omitempty"`
	AhaID        string `json:"aha_id,omitempty"`
	AhaReference string `json:"aha_reference,omitempty"`
	AhaURL       string `json:"aha_url,omitempty"`
	// Steps done (a retry resumes after the last one).
	Pushed  bool `json:"pushed,omitempty"`
	Adopted bool `json:"adopted,omitempty"`
	// Linked: the feedback was already linked by an earlier run; "updated"
	// or "skipped" as the macro's on_linked says.
	Linked      string `json:"linked,omitempty"`
	Stamped     bool   `json:"stamped,omitempty"`
	WrittenBack bool   `json:"written_back,omitempty"`
	WriteBack   string `json:"write_back,omitempty"` // why it was skipped, if it was
	// FirstPush is when the run first tried to push (see PushRequest.Since).
	FirstPush time.Time `json:"first_push,omitempty"`
	Attempts  int       `json:"attempts"`
	Retries   int       `json:"retries,omitempty"`
	// Runs counts later runs taken after the first (run-again).
	Runs       int    `json:"runs,omitempty"`
	ConfigHash string `json:"config_hash,omitempty"`
}

// Summary is the one line operators see in the UI, e.g.
// `macro push-to-aha on feedback 1001 → idea PRJ1-I-12: synced`.
func (s *MacroState) Summary() string {
	line := "macro " + s.Macro + " on feedback " + s.FeedbackID
	if s.AhaReference != "" {
		line += " → " + s.AhaKind + " " + s.AhaReference
	}
	line += ": " + strings.ToLower(s.SyncState)
	if s.ParkedReason != "" {
		line += " — " + s.ParkedReason
	}
	return line
}

// MacroWorkflowID is the deterministic id of one macro run.
func MacroWorkflowID(macro, feedbackID, runKey string) string {
	return fmt.Sprintf("macro:%s:%s:%s", macro, feedbackID, runKey)
}

// CreateMacroWorkflowID is the id of the runs that create an Aha! record of
// one kind for one feedback (macro:<action>:<feedback id>, e.g.
// macro:create_idea:1001): one runs at a time, whichever create macro it is,
// so two runs (a person's click and the Will Fix rule) cannot both look for
// the feedback's stamp, find none and each create an idea. A run started
// while another is in flight is handed to it (run-again) and runs after it;
// a later one reuses the id and finds the stamp.
func CreateMacroWorkflowID(action, feedbackID string) string {
	return fmt.Sprintf("macro:%s:%s", action, feedbackID)
}

// StatusChange is one Centercode status change of a feedback item.
type StatusChange struct {
	// Key identifies the delivery (Centercode's run key, or a hash of the body).
	Key       string    `json:"key"`
	OldStatus string    `json:"old_status,omitempty"`
	Status    string    `json:"status"`
	At        time.Time `json:"at,omitempty"`
	// Payload is the webhook body; macros fired by the change map it.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Source is "webhook" or "operator".
	Source string `json:"source,omitempty"`
}

// RunMacro asks a FeedbackWorkflow to run one macro now.
type RunMacro struct {
	Macro string `json:"macro"`
	// Key makes the run idempotent (optional; a sequence number otherwise).
	Key string `json:"key,omitempty"`
	// Payload overrides the last status-change body (optional).
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ExpectStatus announces a Centercode status ahacc is about to set.
type ExpectStatus struct {
	Status string `json:"status"`
	// For is how long its echo is waited for (sync.echo_window; zero:
	// DefaultEchoWindow). A person's change into the status after that is real.
	For time.Duration `json:"for,omitempty"`
}

// Expectation is a status ahacc set whose webhook has not come back yet.
type Expectation struct {
	Status string    `json:"status"`
	Until  time.Time `json:"until"`
}

// FeedbackInput starts (or continues) a FeedbackWorkflow.
type FeedbackInput struct {
	FeedbackID string `json:"feedback_id"`
	// Carried is the state handed over by continue-as-new (nil on first start).
	Carried *FeedbackState `json:"carried,omitempty"`
}

// MacroRunRef records one macro run a FeedbackWorkflow started.
type MacroRunRef struct {
	Macro      string    `json:"macro"`
	WorkflowID string    `json:"workflow_id"`
	Trigger    string    `json:"trigger"`
	Status     string    `json:"status,omitempty"`
	At         time.Time `json:"at"`
}

// FeedbackState is what a FeedbackWorkflow knows, answered by the `state`
// query and carried across continue-as-new.
type FeedbackState struct {
	FeedbackID string `json:"feedback_id"`
	// Status is the last Centercode status seen.
	Status string `json:"status,omitempty"`
	// Fired counts rule runs per "status|macro" (non-every_time rules run once).
	Fired map[string]int `json:"fired,omitempty"`
	// Expecting are the statuses ahacc set itself whose webhook has not come
	// back yet, one per status, each until its window ends.
	Expecting []Expectation `json:"expecting,omitempty"`
	// Expected is the earlier form (no window, repeats allowed), read from a
	// run carried over from an older worker and folded into Expecting.
	Expected []string `json:"expected,omitempty"`
	// Seen holds the most recent delivery keys (bounded), oldest first.
	Seen []string `json:"seen,omitempty"`
	// Runs are the most recent macro runs started (bounded), oldest first.
	Runs []MacroRunRef `json:"runs,omitempty"`
	// LastPayload is the last status-change body (input of operator runs).
	LastPayload json.RawMessage `json:"last_payload,omitempty"`
	Changes     int             `json:"changes"`
	Transitions int             `json:"transitions"`
	Duplicates  int             `json:"duplicates"`
	Echoes      int             `json:"echoes,omitempty"`
	Seq         int             `json:"seq"`
	ConfigHash  string          `json:"config_hash,omitempty"`
}

// Summary is the one line operators see in the UI.
func (s *FeedbackState) Summary() string {
	line := "feedback " + s.FeedbackID
	if s.Status != "" {
		line += " is " + s.Status
	}
	line += fmt.Sprintf(": %d transitions, %d macro runs", s.Transitions, len(s.Runs))
	if n := len(s.Runs); n > 0 {
		line += " (last " + s.Runs[n-1].Macro + ")"
	}
	return line
}

// FeedbackWorkflowID is the deterministic id of a feedback item's entity workflow.
func FeedbackWorkflowID(feedbackID string) string {
	return "cc:feedback:" + feedbackID
}
