package workflows

import (
	"strings"
	"time"
)

// AhaRecordInput starts (or continues) an AhaRecordWorkflow.
type AhaRecordInput struct {
	Kind  string `json:"kind"`   // idea, feature, ...
	AhaID string `json:"aha_id"` // numeric Aha! id as a string
	// Carried is the state handed over by continue-as-new (nil on first start).
	Carried *State `json:"carried,omitempty"`
}

// Link ties one Aha! record to one Centercode feedback item of a feedback type.
type Link struct {
	FeedbackType string `json:"feedback_type"`
	FeedbackID   string `json:"feedback_id,omitempty"`
	// IDUnknown is set when Centercode answered 2xx without an id (runs of
	// older workers; newer ones set MaybeCreated).
	IDUnknown bool `json:"id_unknown,omitempty"`
	// MaybeCreated: a create may have committed (answered without an id, or
	// failed after it was sent): the next write of any kind looks the
	// feedback up first (FindFeedback), and parks when it cannot.
	MaybeCreated bool `json:"maybe_created,omitempty"`
	// ExternalRef is the external reference the last create sent (what the
	// lookup finds the feedback by).
	ExternalRef string `json:"external_ref,omitempty"`
	// LastHash is the hash of the body last written; an equal hash skips the write.
	LastHash string `json:"last_hash,omitempty"`
	// LastStatus is the Centercode status last set from Aha! (status_rules.from_aha).
	LastStatus string    `json:"last_status,omitempty"`
	SyncedAt   time.Time `json:"synced_at,omitempty"`
}

// State is what the entity workflow knows, answered by the `state` query and
// carried across continue-as-new.
type State struct {
	Kind      string `json:"kind"`
	AhaID     string `json:"aha_id"`
	Reference string `json:"reference,omitempty"`
	URL       string `json:"url,omitempty"`
	Name      string `json:"name,omitempty"`
	// SyncState is Syncing, Synced, Parked or Skipped.
	SyncState string `json:"sync_state"`
	// ParkedReason says why the record waits for an operator.
	ParkedReason string `json:"parked_reason,omitempty"`
	// Route says why the record went to its feedback type when the types
	// choose by content (when:), or why it went to none.
	Route string `json:"route,omitempty"`
	// ParkedOnContent: the record's own content parked it (the mapping
	// refused a value), so the record's next change in Aha! retries it.
	ParkedOnContent bool   `json:"parked_on_content,omitempty"`
	Links           []Link `json:"links,omitempty"`
	Destroyed       bool   `json:"destroyed,omitempty"`
	// Seen holds the most recent audit ids (bounded), oldest first.
	Seen       []string `json:"seen,omitempty"`
	Events     int      `json:"events"`
	Duplicates int      `json:"duplicates"`
	Syncs      int      `json:"syncs"`
	Writes     int      `json:"writes"`
	// Echoes counts records recognised as ahacc's own (created from Centercode).
	Echoes     int       `json:"echoes,omitempty"`
	Pending    bool      `json:"pending"`
	LastSync   time.Time `json:"last_sync,omitempty"`
	ConfigHash string    `json:"config_hash,omitempty"`
}

// Link returns the link for a feedback type, creating it when absent.
func (s *State) link(feedbackType string) *Link {
	for i := range s.Links {
		if s.Links[i].FeedbackType == feedbackType {
			return &s.Links[i]
		}
	}
	s.Links = append(s.Links, Link{FeedbackType: feedbackType})
	return &s.Links[len(s.Links)-1]
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
