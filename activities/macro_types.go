package activities

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ahacc/ahacc/internal/aha"
)

// AhaWriter is what the macro activities need from the Aha! client
// (*aha.Client satisfies it).
type AhaWriter interface {
	CreateIdea(ctx context.Context, productID string, body any) (*aha.Record, error)
	CreateFeature(ctx context.Context, releaseID string, body any) (*aha.Record, error)
	UpdateIdea(ctx context.Context, id string, body any) (*aha.Record, error)
	AddComment(ctx context.Context, kind, id, bodyHTML string) (*aha.Comment, error)
	FindByField(ctx context.Context, kind, field, value string) (*aha.Record, error)
	ListIdeas(ctx context.Context, q aha.ListQuery) ([]aha.Record, aha.Pagination, error)
	ListReleaseFeatures(ctx context.Context, releaseID string, page, perPage int) ([]aha.Record, aha.Pagination, error)
	SetIntegrationField(ctx context.Context, kind, id, integrationID, name, value string) ([]aha.FlexID, error)
	UpdateFeature(ctx context.Context, id string, body any) (*aha.Record, error)
	ListComments(ctx context.Context, kind, id string, page, perPage int) ([]aha.Comment, aha.Pagination, error)
}

// StatusExpecter tells a feedback item's FeedbackWorkflow that ahacc is about
// to set its Centercode status, so the status-changed webhook that follows is
// recognised as ahacc's own echo and fires no macro.
type StatusExpecter interface {
	// within is how long the echo is waited for (sync.echo_window).
	ExpectStatus(ctx context.Context, feedbackID, status string, within time.Duration) error
}

// PlanMacroRequest asks the worker to build a macro run from its payload.
type PlanMacroRequest struct {
	Macro string `json:"macro"`
	// Payload is the Centercode macro body (no secrets: feedback fields only).
	Payload json.RawMessage `json:"payload"`
}

// MacroPlan is a macro run ready to send to Aha!.
type MacroPlan struct {
	Macro  string `json:"macro"`
	Action string `json:"action"`
	// Product (create_idea) or Release (create_feature) the record goes to.
	Product string `json:"product,omitempty"`
	Release string `json:"release,omitempty"`
	// FeedbackID is the Centercode feedback id (the mapping's Reference).
	FeedbackID string `json:"feedback_id"`
	// Body is the Aha! request body (unwrapped; the client wraps it).
	Body json.RawMessage `json:"body"`
	// Target names the Aha! record a comment, status or integration field goes
	// to when the payload carries it (ahaReference); empty: the idea linked to
	// the feedback (found by its integration field).
	Target string `json:"target,omitempty"`
	// OnLinked (create actions) is mapping.OnLinkedUpdate or OnLinkedSkip.
	OnLinked   string `json:"on_linked,omitempty"`
	ConfigHash string `json:"config_hash"`
	Retry
}

// PushRequest performs a planned macro run against Aha!.
type PushRequest struct {
	Plan MacroPlan `json:"plan"`
	// LookupFirst looks a create up before creating even on the first
	// attempt: set on an operator's retry after a failed push.
	LookupFirst bool `json:"lookup_first,omitempty"`
	// Since is when the run first tried to push (its first attempt's time,
	// kept across operator retries): an idea an ambiguous create committed
	// was created after it.
	Since time.Time `json:"since,omitempty"`
}

// PushResult is the Aha! record the macro created or changed.
type PushResult struct {
	Kind      string `json:"kind"` // idea or feature
	ID        string `json:"id"`
	Reference string `json:"reference,omitempty"`
	URL       string `json:"url,omitempty"`
	// Created: the run made a new record (it needs the stamp and the write-back).
	Created bool `json:"created,omitempty"`
	// Adopted: an earlier attempt (or run) had already created the record; it
	// was found by its integration field and not created again.
	Adopted bool `json:"adopted,omitempty"`
	// Stamped: the record carries the feedback's stamp already (it was found
	// by it); a created record, or one found as an unstamped twin, needs it.
	Stamped bool `json:"stamped,omitempty"`
	// Linked says what a create run did for a feedback an earlier run had
	// already linked (found by its stamp): "updated" (on_linked: update) or
	// "skipped" (on_linked: skip); empty otherwise.
	Linked string `json:"linked,omitempty"`
}

// StampRequest writes the Centercode feedback id into the record's
// integration field (the link ledger that suppresses echoes and finds the
// record again).
type StampRequest struct {
	IdeaID     string `json:"idea_id"`
	FeedbackID string `json:"feedback_id"`
	// Kind is idea (empty, as older runs sent it) or feature.
	Kind string `json:"kind,omitempty"`
}

// WriteBackRequest stores the Aha! link on the Centercode feedback.
type WriteBackRequest struct {
	FeedbackID   string `json:"feedback_id"`
	AhaReference string `json:"aha_reference"`
	AhaURL       string `json:"aha_url,omitempty"`
	Macro        string `json:"macro,omitempty"`
}

// WriteBackResult says what the write-back did.
type WriteBackResult struct {
	// Skipped: nothing was sent (no feedback listener configured).
	Skipped string `json:"skipped,omitempty"`
}

// RulesRequest asks which macros a Centercode status fires.
type RulesRequest struct {
	Status string `json:"status"`
}

// RuleAction mirrors mapping.RuleAction for workflow use.
type RuleAction struct {
	Macro     string `json:"macro"`
	EveryTime bool   `json:"every_time,omitempty"`
	// Creates is the macro's action when it creates an Aha! record
	// (create_idea, create_feature): its runs for one feedback go one at a
	// time, under one workflow id. Empty for the other actions.
	Creates string `json:"creates,omitempty"`
}

// Rules is the worker's current answer for one status.
type Rules struct {
	Actions    []RuleAction `json:"actions,omitempty"`
	ConfigHash string       `json:"config_hash"`
}

// SetStatusRequest sets a Centercode feedback status through the feedback
// listener (ahacc's own change: it must not fire a macro again).
type SetStatusRequest struct {
	FeedbackID string `json:"feedback_id"`
	Status     string `json:"status"`
}

// Keys written to the feedback listener by the write-back (the Centercode
// admin labels them in the listener's data group).
const (
	WriteBackKeyReference = "aha_reference"
	WriteBackKeyURL       = "aha_url"
)
