package contract

import (
	"encoding/json"
	"time"
)

// Signal payloads. They hold ids, names and bodies Centercode sent — never
// secrets; the workflows read record content themselves.

// AhaEvent is one Aha! audit routed to a record's entity workflow. It holds
// no record content: the workflow hydrates the record itself.
type AhaEvent struct {
	AuditID       string    `json:"audit_id"`
	Action        string    `json:"action"` // create, update, destroy
	AuditableType string    `json:"auditable_type"`
	CreatedAt     time.Time `json:"created_at"`
	// Fields names the changed fields (values are not needed: we hydrate).
	Fields []string `json:"fields,omitempty"`
	// Source is "webhook", "reconcile" or "replay".
	Source string `json:"source"`
}

// RetryRequest is the optional input of the retry signal (an empty signal
// retries as it is).
type RetryRequest struct {
	// Create: the operator looked in Centercode and found no feedback for the
	// record, so a create that may have committed did not: create again
	// without looking up (only needed where no lookup is configured).
	Create bool `json:"create,omitempty"`
	// FeedbackType limits Create to one feedback type (empty: every type
	// the parked reason names a possible create for).
	FeedbackType string `json:"feedback_type,omitempty"`
}

// UserDataStart is the start input the activities give a person's workflow;
// it has the JSON shape of workflows.UserDataInput (without carried state).
type UserDataStart struct {
	Email string `json:"email"`
}

// PersonEvent tells a person's workflow that something about them changed.
// It carries either nothing to trust (Hydrate: read Aha! afresh before
// mapping) or a point-in-time snapshot read from list pages (backfill and
// organization fan-out), stamped with when it was read so an older snapshot
// never overwrites newer data.
type PersonEvent struct {

	// AuditIDs are the Aha! audits this event stands for (dedup); empty for
	// backfill and fan-out events.
	AuditIDs []string `json:"audit_ids,omitempty"`
	// Kind is the Aha! record kind that changed: idea_user, portal_user,
	// idea_organization, or "backfill".
	Kind string `json:"kind"`
	// AhaID is the id of the Aha! record that changed.
	AhaID string `json:"aha_id,omitempty"`
	// IdeaUserID is the person's idea user id when known.
	IdeaUserID string `json:"idea_user_id,omitempty"`
	// Hydrate asks the workflow to read the person from Aha! before mapping.
	Hydrate bool `json:"hydrate,omitempty"`
	// Snapshot is the hydrated person (see PersonRecord.JSON), when the
	// sender read it already; FetchedAt is when its oldest part was read.
	Snapshot  []byte    `json:"snapshot,omitempty"`
	FetchedAt time.Time `json:"fetched_at,omitempty"`
	// Source is webhook, reconcile, replay, fanout or backfill.
	Source string `json:"source"`
}

// MacroRunRequest is a later run of a create macro for a feedback whose run
// is in flight.
type MacroRunRequest struct {
	RunKey  string          `json:"run_key"`
	Trigger string          `json:"trigger"`
	Payload json.RawMessage `json:"payload"`
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
	// the default window). A person's change into the status after that is real.
	For time.Duration `json:"for,omitempty"`
}
