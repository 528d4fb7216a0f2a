package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
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
