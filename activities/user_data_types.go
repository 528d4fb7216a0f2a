package activities

import "time"

// BackfillPerPage is the page size of /api/v1/idea_users reads (Aha!'s maximum).
const BackfillPerPage = 200

// UserDataRoutes is the worker's current user-data configuration, as much as
// a person's workflow needs to decide (no URLs).
type UserDataRoutes struct {
	// Enabled is false when the config has no user_data section.
	Enabled       bool          `json:"enabled"`
	OnUnknownUser string        `json:"on_unknown_user"` // skip or park
	Debounce      time.Duration `json:"debounce"`
	Retry
	ConfigHash string `json:"config_hash"`
}

// HydratePersonRequest reads one person from Aha! by email.
type HydratePersonRequest struct {
	Email string `json:"email"`
}

// PersonRecord is one hydrated person: the idea user with each organization
// expanded to the full organization record.
type PersonRecord struct {
	Email      string `json:"email"`
	IdeaUserID string `json:"idea_user_id,omitempty"`
	Name       string `json:"name,omitempty"`
	// Found is false when Aha! has no idea user with this email (deleted, or
	// the email changed): the person's data is then cleared in Centercode.
	Found bool `json:"found"`
	// JSON is the person as the user_data mapping sees it (HydratePerson).
	JSON []byte `json:"json,omitempty"`
	// Mapped is the listener body instead (HydrateAndMapPerson).
	Mapped    *UserDataBody `json:"mapped,omitempty"`
	FetchedAt time.Time     `json:"fetched_at"`
}

// MapUserDataRequest maps a hydrated person with the user_data section.
type MapUserDataRequest struct {
	Email  string `json:"email"`
	Record []byte `json:"record"`
}

// UserDataBody is a listener body ready to send: every configured key is
// present, a key without a value in Aha! is sent as "" so Centercode clears it.
type UserDataBody struct {
	Email string `json:"email"`
	Body  []byte `json:"body"`
	Hash  string `json:"hash"`
	// Keys counts the keys with a value; Cleared those sent empty.
	Keys       int    `json:"keys"`
	Cleared    int    `json:"cleared"`
	ConfigHash string `json:"config_hash"`
}

// PostUserDataRequest sends a mapped body to the user-data listener.
type PostUserDataRequest struct {
	Email string `json:"email"`
	Body  []byte `json:"body"`
	// Step numbers the person's syncs within a workflow run; with the run it
	// names this write in the write ledger (0: no ledger, every attempt writes).
	Step int `json:"step,omitempty"`
	// Remember (runs that complete once synced): the write is decided against
	// what the person's earlier runs kept in Redis as well as Last*, and what
	// it writes is kept there for the next run.
	Remember bool `json:"remember,omitempty"`
	// Hash is the body's hash; LastHash and LastFetchedAt what this run wrote
	// and read last.
	Hash          string    `json:"hash,omitempty"`
	LastHash      string    `json:"last_hash,omitempty"`
	LastFetchedAt time.Time `json:"last_fetched_at,omitempty"`
	// FetchedAt is when the body's data was read from Aha!; Fresh: read by
	// this sync (a snapshot is not, and may be older than what was written).
	FetchedAt time.Time `json:"fetched_at,omitempty"`
	Fresh     bool      `json:"fresh,omitempty"`
	// Window is the coalescing window (sync.debounce): an earlier run's
	// write inside it is waited out (Wait), one write per window.
	Window time.Duration `json:"window,omitempty"`
}

// PostUserDataResult says what the listener did.
type PostUserDataResult struct {
	// UnknownUser: Centercode answered 404 for the email and on_unknown_user
	// is skip; nothing was stored.
	UnknownUser bool `json:"unknown_user,omitempty"`
	// Reason explains an UnknownUser skip for logs and the UI.
	Reason string `json:"reason,omitempty"`
	// Unchanged: Centercode already holds this body (nothing written).
	Unchanged bool `json:"unchanged,omitempty"`
	// Stale: the snapshot is older than data already written (nothing
	// written); read Aha! afresh.
	Stale bool `json:"stale,omitempty"`
	// Kept: Redis holds what was written (hash and read time), so the
	// person's workflow may complete; its next run decides from it.
	Kept bool `json:"kept,omitempty"`
	// Wait: an earlier run wrote within the coalescing window; nothing
	// written, sync again after this long. A duration, not an instant: the
	// workflow's timer runs on the server's clock, which the worker's may
	// not match, but both measure the same durations.
	Wait time.Duration `json:"wait,omitempty"`
}

// ResolvePeopleRequest turns Aha! people audits (idea user, portal user or
// organization) into person events for the affected people's workflows.
type ResolvePeopleRequest struct {
	Kind     string   `json:"kind"`
	AhaID    string   `json:"aha_id"`
	AuditIDs []string `json:"audit_ids,omitempty"`
	// PreviousEmails are emails this record was last resolved to; a person
	// whose email changed gets an event under the old email too, so the old
	// key's data is cleared.
	PreviousEmails []string `json:"previous_emails,omitempty"`
	Source         string   `json:"source"`
}

// ResolvePeopleResult lists what the resolver signalled.
type ResolvePeopleResult struct {
	// Emails are the people signalled (normalised).
	Emails []string `json:"emails,omitempty"`
	// People counts the people signalled (an organization fan-out may signal
	// more than Emails lists: it keeps at most 20 for the UI).
	People int `json:"people"`
	// AhaCalls counts Aha! requests made.
	AhaCalls int `json:"aha_calls"`
	// Gone: the Aha! record no longer exists (404).
	Gone bool `json:"gone,omitempty"`
}

// BackfillPageRequest reads one page of /api/v1/idea_users.
type BackfillPageRequest struct {
	Page    int       `json:"page"`
	PerPage int       `json:"per_page"`
	Since   time.Time `json:"since,omitempty"`
}

// BackfillPageResult reports one backfill page.
type BackfillPageResult struct {
	Page         int `json:"page"`
	TotalPages   int `json:"total_pages"`
	TotalRecords int `json:"total_records"`
	Users        int `json:"users"`
	Signalled    int `json:"signalled"`
	// NoEmail counts idea users without an email (cannot be matched).
	NoEmail  int `json:"no_email"`
	AhaCalls int `json:"aha_calls"`
}
