// Package workflows holds ahacc's workflow functions and their input, state
// and result types. The names they share with the starter, the activities and
// operators (task queue, signals, queries, search attributes, workflow ids,
// signal payloads) live in internal/contract.
package workflows
