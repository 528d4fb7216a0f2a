// Package workflows holds ahacc's workflow functions, their input and output
// types, and the names (task queue, signals, queries, search attributes) that
// the worker, the starter and the operator commands share.
package workflows

import "go.temporal.io/sdk/temporal"

// DefaultTaskQueue is the task queue every ahacc worker polls unless
// AHACC_TASK_QUEUE says otherwise.
const DefaultTaskQueue = "ahacc"

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

// SearchAttributeNames lists every custom search attribute ahacc uses; the dev
// stack and the compose init job register exactly these.
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
