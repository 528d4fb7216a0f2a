package workflows

import (
	"strings"
	"time"

	"github.com/ahacc/ahacc/activities"
)

// AhaRecordInput starts (or continues) an AhaRecordWorkflow.
type AhaRecordInput struct {
	Kind  string `json:"kind"`   // idea, feature, ...
	AhaID string `json:"aha_id"` // numeric Aha! id as a string
	// Carried is the state handed over by continue-as-new (nil on first start).
	Carried *State `json:"carried,omitempty"`
	// Routes are the config's routes the last run synced with (version 4),
	// carried so the next run closes when idle and retries as configured
	// before its first sync.
	Routes *activities.Routes `json:"routes,omitempty"`
}

// Link ties one Aha! record to one Centercode feedback item of a feedback type.
type Link = activities.Link

// State is what the entity workflow knows, answered by the `state` query and
// carried across continue-as-new.
type State struct {
	// The record and its links, as its syncs left them.
	activities.RecordSync
	// SyncState is Syncing, Synced, Parked or Skipped.
	SyncState string `json:"sync_state"`
	// ParkedReason says why the record waits for an operator.
	ParkedReason string `json:"parked_reason,omitempty"`
	// ParkedOnContent: the record's own content parked it (the mapping
	// refused a value), so the record's next change in Aha! retries it.
	ParkedOnContent bool `json:"parked_on_content,omitempty"`
	// Seen holds the most recent audit ids (bounded), oldest first.
	Seen       []string  `json:"seen,omitempty"`
	Events     int       `json:"events"`
	Duplicates int       `json:"duplicates"`
	Syncs      int       `json:"syncs"`
	Pending    bool      `json:"pending"`
	LastSync   time.Time `json:"last_sync,omitempty"`
}

// Summary is the one line operators see in the UI, e.g.
// `idea PRJ1-I-10 → bugs feedback 4821: synced`.
func (s *State) Summary() string {
	ref := s.Reference
	if ref == "" {
		ref = s.AhaID
	}
	var targets []string
	for _, l := range s.Links {
		id := l.FeedbackID
		if id == "" {
			id = "(new)"
		}
		targets = append(targets, l.FeedbackType+" feedback "+id)
	}
	line := s.Kind + " " + ref
	if len(targets) > 0 {
		line += " → " + strings.Join(targets, ", ")
	}
	line += ": " + strings.ToLower(s.SyncState)
	if s.ParkedReason != "" {
		line += " — " + s.ParkedReason
	}
	if len(s.Links) == 0 && s.Route != "" {
		line += " (" + s.Route + ")"
	}
	if s.Destroyed {
		line += " (deleted in Aha!)"
	}
	return line
}
