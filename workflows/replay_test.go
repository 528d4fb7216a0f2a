package workflows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// (testdata/histories, refreshed by internal/e2e TestRecordHistories) against
// today's workflow code: a change that would break running workflows
// (non-determinism) fails here, not in production.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories")
	r := worker.NewWorkflowReplayer()
	types := map[string]int{}
	for _, name := range []string{"AhaRecordWorkflow", "ReconcileWorkflow", "AhaPeopleWorkflow", "UserDataWorkflow",
		"UserBackfillWorkflow", "MacroWorkflow", "FeedbackWorkflow", "AuditParentWorkflow", "RecordBackfillWorkflow"} {
		types[name] = 0
	}
	for _, wf := range []any{AhaRecordWorkflow, ReconcileWorkflow, AhaPeopleWorkflow, UserDataWorkflow,
		UserBackfillWorkflow, MacroWorkflow, FeedbackWorkflow, AuditParentWorkflow, RecordBackfillWorkflow} {
		r.RegisterWorkflow(wf)
	}
	for _, f := range files {
		typ, _, _ := strings.Cut(filepath.Base(f), "-")
		types[typ]++
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			require.NoError(t, err)
			defer fh.Close()
			h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
			require.NoError(t, err)
			require.NoError(t, r.ReplayWorkflowHistory(nil, h))
		})
	}
	for typ, n := range types {
		assert.Positive(t, n, "no recorded history of %s: record one (internal/e2e TestRecordHistories)", typ)
	}
}
