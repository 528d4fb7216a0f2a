package workflows

import (
	"fmt"
	"strings"
	"time"

	"github.com/ahacc/ahacc/internal/contract"
)

// UserDataInput starts (or continues) a person's UserDataWorkflow.
type UserDataInput struct {
	Email string `json:"email"`
	// Carried is the state handed over by continue-as-new (nil on first start).
	Carried *UserDataState `json:"carried,omitempty"`
}

// UserDataState is what a person's workflow knows, answered by the `state`
// query and carried across continue-as-new. Its reference and parked_reason
// fields match State's, so the operator commands (parked, retry-parked) read
// people and records alike.
type UserDataState struct {
	Email string `json:"email"`
	// Reference is the email again (State.Reference for the operator commands).
	Reference  string `json:"reference"`
	Kind       string `json:"kind"`
	IdeaUserID string `json:"idea_user_id,omitempty"`
	Name       string `json:"name,omitempty"`
	// InAha is false once Aha! has no idea user with this email (their data
	// was cleared in Centercode).
	InAha bool `json:"in_aha"`
	// SyncState is Syncing, Synced, Parked or Skipped.
	SyncState    string `json:"sync_state"`
	ParkedReason string `json:"parked_reason,omitempty"`
	// SkippedReason says why the last sync wrote nothing (an unknown
	// Centercode user with on_unknown_user: skip).
	SkippedReason string `json:"skipped_reason,omitempty"`
	// Seen holds the most recent audit ids (bounded), oldest first.
	Seen []string `json:"seen,omitempty"`
	// Counters.
	Events       int `json:"events"`
	Duplicates   int `json:"duplicates"`
	Stale        int `json:"stale"` // snapshots older than what was already applied
	Syncs        int `json:"syncs"`
	Writes       int `json:"writes"`
	Unchanged    int `json:"unchanged"`     // syncs whose hash equalled the last write
	UnknownSkips int `json:"unknown_skips"` // syncs skipped: Centercode has no such user
	// Pending work: NeedFetch reads Aha! afresh; else Snapshot is mapped.
	Pending    bool      `json:"pending"`
	NeedFetch  bool      `json:"need_fetch,omitempty"`
	Snapshot   []byte    `json:"snapshot,omitempty"`
	SnapshotAt time.Time `json:"snapshot_at,omitempty"`
	// LastFetchedAt is when the data last applied was read from Aha!.
	LastFetchedAt time.Time `json:"last_fetched_at,omitempty"`
	// LastHash is the hash of the body last written to Centercode.
	LastHash   string    `json:"last_hash,omitempty"`
	LastSync   time.Time `json:"last_sync,omitempty"`
	LastWrite  time.Time `json:"last_write,omitempty"`
	ConfigHash string    `json:"config_hash,omitempty"`
}

// Summary is the one line operators see in the UI, e.g.
// `person ada@example.com → Centercode user data: synced (3 writes)`.
func (s *UserDataState) Summary() string {
	line := "person " + s.Email + " → Centercode user data: " + strings.ToLower(s.SyncState)
	line += fmt.Sprintf(" (%d writes, %d unchanged)", s.Writes, s.Unchanged)
	switch {
	case s.ParkedReason != "":
		line += " — " + s.ParkedReason
	case s.SyncState == contract.StateSkipped && s.SkippedReason != "":
		line += " — " + s.SkippedReason
	}
	if !s.InAha && s.Syncs > 0 {
		line += " (not in Aha!: data cleared)"
	}
	return line
}

// AhaPeopleInput starts (or continues) the resolver of one Aha! people record.
type AhaPeopleInput struct {
	Kind  string `json:"kind"` // idea_user, portal_user or idea_organization
	AhaID string `json:"aha_id"`
	// Carried is the state handed over by continue-as-new.
	Carried *AhaPeopleState `json:"carried,omitempty"`
}

// AhaPeopleState is what the resolver of one people record knows.
type AhaPeopleState struct {
	Kind  string `json:"kind"`
	AhaID string `json:"aha_id"`
	// Emails are the people this record resolved to last (an idea user whose
	// email changes gets an event under the old email too).
	Emails     []string  `json:"emails,omitempty"`
	Seen       []string  `json:"seen,omitempty"`
	Unresolved []string  `json:"unresolved,omitempty"` // audit ids not yet handed on
	Events     int       `json:"events"`
	Duplicates int       `json:"duplicates"`
	Resolves   int       `json:"resolves"`
	People     int       `json:"people"` // people signalled, over all resolves
	Pending    bool      `json:"pending"`
	LastRun    time.Time `json:"last_run,omitempty"`
	// SyncState is Syncing, Synced or Parked; ParkedReason says why.
	SyncState    string `json:"sync_state"`
	ParkedReason string `json:"parked_reason,omitempty"`
	// Reference is the Aha! id (State.Reference for the operator commands).
	Reference string `json:"reference"`
}

// UserBackfillInput starts (or continues) the user backfill.
type UserBackfillInput struct {
	// Since reads only idea users updated since then (zero: everyone).
	Since time.Time `json:"since,omitempty"`
	// PerPage is the idea_users page size (default and maximum 200).
	PerPage int `json:"per_page,omitempty"`
	// PagesPerRun continues-as-new after this many pages (default 20).
	PagesPerRun int `json:"pages_per_run,omitempty"`
	// Carried is the progress handed over by continue-as-new.
	Carried *BackfillProgress `json:"carried,omitempty"`
}

// BackfillProgress is what the backfill has done, answered by the `progress`
// query and carried across continue-as-new.
type BackfillProgress struct {
	Since        time.Time `json:"since,omitempty"`
	NextPage     int       `json:"next_page"`
	TotalPages   int       `json:"total_pages"`
	TotalRecords int       `json:"total_records"`
	Pages        int       `json:"pages"`
	Users        int       `json:"users"`
	Signalled    int       `json:"signalled"`
	NoEmail      int       `json:"no_email"`
	AhaCalls     int       `json:"aha_calls"`
	Paused       bool      `json:"paused"`
	Done         bool      `json:"done"`
	Runs         int       `json:"runs"`
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at,omitempty"`
}

// Summary is the backfill's one line in the UI.
func (p *BackfillProgress) Summary() string {
	state := "running"
	switch {
	case p.Done:
		state = "done"
	case p.Paused:
		state = "paused"
	}
	total := "?"
	if p.TotalPages > 0 {
		total = fmt.Sprint(p.TotalPages)
	}
	return fmt.Sprintf("user backfill %s: page %d of %s, %d of %d idea users signalled, %d without email, %d Aha! calls",
		state, p.Pages, total, p.Signalled, p.TotalRecords, p.NoEmail, p.AhaCalls)
}
