package aha

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIDsNeverRepeatAcrossRuns: seeded records keep their ids, but a record
// made after start gets an id larger than any the previous run could have
// made, so a Redis that outlives the simulator never sees an old audit id.
func TestIDsNeverRepeatAcrossRuns(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	first := New(Options{Now: func() time.Time { return t0 }})
	info1, err := first.CreateIdea("PRJ1", map[string]any{"name": "a"})
	require.NoError(t, err)
	for i := 0; i < 1000; i++ {
		_, err := first.CreateIdea("PRJ1", map[string]any{"name": "more"})
		require.NoError(t, err)
	}
	last1, _ := strconv.ParseUint(first.LastAuditID(), 10, 64)

	second := New(Options{Now: func() time.Time { return t0.Add(time.Second) }})
	info2, err := second.CreateIdea("PRJ1", map[string]any{"name": "b"})
	require.NoError(t, err)
	id2, _ := strconv.ParseUint(info2.ID, 10, 64)
	audit2, _ := strconv.ParseUint(second.LastAuditID(), 10, 64)
	require.Greater(t, id2, last1)
	require.Greater(t, audit2, last1)
	require.NotEqual(t, info1.ID, info2.ID)
	require.Len(t, info2.ID, 19)
}
