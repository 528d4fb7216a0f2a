// Package contract is what the starter, the worker's activities, the
// operator commands and the workflows agree on: the task queue, signal and
// query names, search attributes, workflow ids and the signal payloads. It
// imports nothing of ahacc's, so every package can use it.
package contract

import (
	"strings"

	"go.temporal.io/sdk/temporal"
)

// DefaultTaskQueue is the task queue every ahacc worker polls unless
// AHACC_TASK_QUEUE says otherwise.
const DefaultTaskQueue = "ahacc"

// Signals and queries of the record and person entity workflows (sent by the
// starter and the activities, or by an operator from the Temporal Web UI).
const (
	// SignalAhaEvent carries one Aha! activity-webhook (or reconciled) audit (AhaEvent).
	SignalAhaEvent = "aha-event"
	// SignalPersonEvent carries one PersonEvent to a person's UserDataWorkflow.
	SignalPersonEvent = "person-event"
	// SignalRetry re-hydrates and re-maps a parked record with the current config.
	SignalRetry = "retry"
	// SignalSkip drops the parked change; the next Aha! event syncs again.
	SignalSkip = "skip"
	// SignalUpgrade asks a long-lived entity workflow to continue as new at
	// its next quiet moment, so the code a deploy brought (behind
	// workflow.GetVersion, which a run decides once) applies to it too.
	SignalUpgrade = "upgrade"
	// QueryState answers the entity's state.
	QueryState = "state"
)

// Updates: operator actions that answer the caller (the signals of the same
// names stay for the Web UI's Signal button). A retry or skip of an entity
// that is not parked is refused by the Update's validator.
const (
	// UpdateRetry retries a parked entity (contract.RetryRequest) and answers
	// what it was parked on.
	UpdateRetry = "retry"
	// UpdateSkip drops a parked entity's change and answers what was dropped.
	UpdateSkip = "skip"
	// UpdateRunMacro runs one macro on a feedback now (RunMacro) and answers
	// the run it started.
	UpdateRunMacro = "run-macro"
)

// Signals of the FeedbackWorkflow and the macro runs.
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

// Signals and query of the backfills.
const (
	// SignalPause pauses a backfill after the page in flight.
	SignalPause = "pause"
	// SignalResume resumes a paused backfill.
	SignalResume = "resume"
	// QueryProgress answers a backfill's progress.
	QueryProgress = "progress"
)

// UserDataWorkflowType is the registered name of the person's workflow, which
// the people activities start by name.
const UserDataWorkflowType = "UserDataWorkflow"

// Custom search attribute names (all Keyword). They make every record findable
// in the Temporal Web UI, e.g. `SyncState="Parked"`.
const (
	SAAhaReference         = "AhaReference"
	SAAhaRecordType        = "AhaRecordType"
	SACentercodeFeedbackID = "CentercodeFeedbackID"
	SASyncState            = "SyncState"
	SAMacro                = "Macro"
	SAConfigHash           = "ConfigHash"
)

// SearchAttributeNames lists every custom search attribute ahacc uses;
// `starter setup-temporal` registers exactly these.
var SearchAttributeNames = []string{
	SAAhaReference, SAAhaRecordType, SACentercodeFeedbackID, SASyncState, SAMacro, SAConfigHash,
}

// Typed keys for upserting and querying the search attributes above.
var (
	KeyAhaReference         = temporal.NewSearchAttributeKeyKeyword(SAAhaReference)
	KeyAhaRecordType        = temporal.NewSearchAttributeKeyKeyword(SAAhaRecordType)
	KeyCentercodeFeedbackID = temporal.NewSearchAttributeKeyKeyword(SACentercodeFeedbackID)
	KeySyncState            = temporal.NewSearchAttributeKeyKeyword(SASyncState)
	KeyMacro                = temporal.NewSearchAttributeKeyKeyword(SAMacro)
	KeyConfigHash           = temporal.NewSearchAttributeKeyKeyword(SAConfigHash)
)

// SyncState values.
const (
	StateSyncing = "Syncing"
	StateSynced  = "Synced"
	StateParked  = "Parked"
	StateSkipped = "Skipped"
)

// KindPerson is the AhaRecordType search attribute of a person's workflow.
const KindPerson = "idea_user"

// Macro run triggers.
const (
	TriggerWebhook  = "webhook"  // a Centercode webhook macro called the starter
	TriggerStatus   = "status"   // a status rule fired it (child of FeedbackWorkflow)
	TriggerOperator = "operator" // run-macro signal
)

// Workflow ids: deterministic, so a second start of the same thing finds the first.

// AhaRecordWorkflowID is the id of a record's entity workflow: aha:<kind>:<id>.
func AhaRecordWorkflowID(kind, ahaID string) string { return "aha:" + kind + ":" + ahaID }

// AhaPeopleWorkflowID is the id of the resolver of one Aha! people record:
// aha:<kind>:<aha id>, like the feedback records' entity workflows.
func AhaPeopleWorkflowID(kind, ahaID string) string { return AhaRecordWorkflowID(kind, ahaID) }

// AuditParentWorkflowID is the id of the run that routes one child audit.
func AuditParentWorkflowID(auditID string) string { return "aha:parent-of:" + auditID }

// UserDataWorkflowPrefix starts every person's workflow id: user:<email>.
const UserDataWorkflowPrefix = "user:"

// NormalizeEmail is the person key: the email lower-cased and trimmed.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// UserDataWorkflowID is the id of a person's workflow: user:<normalised email>.
func UserDataWorkflowID(email string) string { return UserDataWorkflowPrefix + NormalizeEmail(email) }

// UserBackfillWorkflowID is the id of the (single) user backfill.
const UserBackfillWorkflowID = "backfill:users"

// RecordBackfillWorkflowID is the id of a feedback type's record backfill.
func RecordBackfillWorkflowID(feedbackType string) string { return "backfill:records:" + feedbackType }

// FeedbackWorkflowID is the id of a feedback item's entity workflow.
func FeedbackWorkflowID(feedbackID string) string { return "cc:feedback:" + feedbackID }

// MacroWorkflowID is the id of one macro run.
func MacroWorkflowID(macro, feedbackID, runKey string) string {
	return "macro:" + macro + ":" + feedbackID + ":" + runKey
}

// CreateMacroWorkflowID is the id of the runs that create an Aha! record of
// one kind for one feedback (macro:<action>:<feedback id>, e.g.
// macro:create_idea:1001): one runs at a time, whichever create macro it is,
// so two runs (a person's click and the Will Fix rule) cannot both look for
// the feedback's stamp, find none and each create an idea. A run started
// while another is in flight is handed to it (run-again) and runs after it;
// a later one reuses the id and finds the stamp.
func CreateMacroWorkflowID(action, feedbackID string) string {
	return "macro:" + action + ":" + feedbackID
}
