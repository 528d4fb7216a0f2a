package activities

import "time"

// Error type strings raised by activities and matched by retry policies.
const (
	// ErrTypeTransient is a retryable far-side failure (429, 5xx, timeout, connection).
	ErrTypeTransient = "Transient"
	// ErrTypePermanent is a non-retryable far-side answer (400/401/403/404/406/422).
	ErrTypePermanent = "Permanent"
	// ErrTypeNotFound is a 404 for the record being synced.
	ErrTypeNotFound = "NotFound"
	// ErrTypeGone is a 404 for a record Aha!'s history shows was deleted.
	ErrTypeGone = "Gone"
	// ErrTypeMapping is a record the mapping cannot turn into a valid body
	// (a value outside a choice's options, a missing required value).
	ErrTypeMapping = "Mapping"
	// ErrTypeConfig is a reference to something the current config lacks.
	ErrTypeConfig = "Config"
	// ErrTypeRejected is a create the far side refused (a 4xx answer to the
	// create itself): nothing was committed, so it may be sent again.
	ErrTypeRejected = "Rejected"
	// ErrTypeAmbiguous is a create that failed after it was sent (no answer,
	// or a 5xx) with no way to look up whether it committed: it parks rather
	// than risk a second record.
	ErrTypeAmbiguous = "Ambiguous"
)

// FinalErrorTypes are the types a far-side call's retry policy never
// retries (the workflows' policies list them; the rest of the final answers
// are raised non-retryable themselves).
var FinalErrorTypes = []string{ErrTypePermanent, ErrTypeNotFound, ErrTypeMapping, ErrTypeConfig}

// Activity request and response types. They carry ids, names and mapped
// bodies — never API keys or Centercode URLs, which the worker holds.

// FetchRequest asks for one Aha! record.
type FetchRequest struct {
	Kind  string `json:"kind"`
	AhaID string `json:"aha_id"`
}

// Record is a hydrated Aha! record.
type Record struct {
	Kind      string `json:"kind"`
	AhaID     string `json:"aha_id"`
	Reference string `json:"reference,omitempty"`
	URL       string `json:"url,omitempty"`
	Name      string `json:"name,omitempty"`
	// JSON is the unwrapped record as Aha! returned it.
	JSON []byte `json:"json"`
	// LinkedFeedbackID is the Centercode feedback id stamped on the record's
	// integration field (aha.integration_field) when ahacc itself created it
	// from a Centercode macro: the link ledger that suppresses echoes.
	LinkedFeedbackID string `json:"linked_feedback_id,omitempty"`
}

// MapRequest maps a hydrated record for one feedback type.
type MapRequest struct {
	FeedbackType string `json:"feedback_type"`
	Record       []byte `json:"record"`
}

// Mapped is a Centercode request body ready to send.
type Mapped struct {
	FeedbackType string `json:"feedback_type"`
	Body         []byte `json:"body"`
	Hash         string `json:"hash"`
	// Reference is the external reference element's value.
	Reference string `json:"reference,omitempty"`
	// CentercodeStatus is what status_rules.from_aha maps the record's Aha!
	// workflow status to ("" when no rule applies).
	CentercodeStatus string `json:"centercode_status,omitempty"`
	ConfigHash       string `json:"config_hash"`
}

// SubmitRequest creates or updates the feedback for a mapped body.
type SubmitRequest struct {
	FeedbackType string `json:"feedback_type"`
	// FeedbackID set: update through the feedback listener; empty: create.
	FeedbackID string `json:"feedback_id,omitempty"`
	Body       []byte `json:"body"`
	Reference  string `json:"reference,omitempty"`
	// Except: feedback linked to the record's other types, which a look-up
	// by reference must not take for this type's (types of one project
	// share the reference).
	Except []string `json:"except,omitempty"`
	// Uncertain: another type's create may have committed, id unknown; a
	// look-up by the shared reference could take its feedback for this
	// type's, so a retried create parks instead of looking up.
	Uncertain bool `json:"uncertain,omitempty"`
}

// SubmitResult says what the submit did.
type SubmitResult struct {
	FeedbackID string `json:"feedback_id,omitempty"`
	IDUnknown  bool   `json:"id_unknown,omitempty"`
	// Adopted: an earlier (ambiguous) create had committed; no second feedback was made.
	Adopted bool `json:"adopted,omitempty"`
	// Skipped: nothing was sent (e.g. no feedback listener configured for updates).
	Skipped string `json:"skipped,omitempty"`
}

// FindFeedbackRequest looks up the feedback a record's earlier create may
// have made, by the record's external reference.
type FindFeedbackRequest struct {
	FeedbackType string `json:"feedback_type"`
	Reference    string `json:"reference"`
	// Except: as SubmitRequest.Except.
	Except []string `json:"except,omitempty"`
}

// FindFeedbackResult is the feedback found ("" when there is none).
type FindFeedbackResult struct {
	FeedbackID string `json:"feedback_id,omitempty"`
}

// DestroyRequest tells Centercode that the Aha! record is gone.
type DestroyRequest struct {
	FeedbackType string `json:"feedback_type"`
	FeedbackID   string `json:"feedback_id"`
	Reference    string `json:"reference,omitempty"`
}

// RoutesRequest asks the worker which feedback types a record kind feeds.
type RoutesRequest struct {
	Kind string `json:"kind"`
}

// Retry is the config's retry settings for far-side calls, handed to a
// workflow with its routes or plan: RetryFor (sync.retry_for) is how long a
// failing call is retried before its record, person or run parks,
// RetryMaxInterval (sync.retry_max_interval) the longest wait between two
// tries. Zero: the workflow's defaults.
type Retry struct {
	RetryFor         time.Duration `json:"retry_for,omitempty"`
	RetryMaxInterval time.Duration `json:"retry_max_interval,omitempty"`
}

// Routes is the worker's current routing for a record kind.
type Routes struct {
	FeedbackTypes []string      `json:"feedback_types"`
	Debounce      time.Duration `json:"debounce"`
	Retry
	ConfigHash string `json:"config_hash"`
	// ByContent: the types choose by content (when:); a record goes to one
	// of them, which RouteRecord names once the record is read.
	ByContent bool `json:"by_content,omitempty"`
	// IdleClose is how long the record's workflow runs without an event
	// before it completes (sync.idle_close; 0: never).
	IdleClose time.Duration `json:"idle_close,omitempty"`
}

// RouteRecordRequest asks which feedback type a hydrated record goes to.
type RouteRecordRequest struct {
	Kind   string `json:"kind"`
	Record []byte `json:"record"`
}

// RouteChoice is the feedback type a record goes to ("" for none), and why.
type RouteChoice struct {
	FeedbackType string `json:"feedback_type,omitempty"`
	Why          string `json:"why"`
}
