package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/devstack"
	"github.com/ahacc/ahacc/workflows"
)

// Two feedback types fed by ideas, chosen by content: bugs takes ideas in the
// category Bug (when:), requests takes the rest. Each idea lands in exactly
// one, and stays there when its category changes.
func TestIdeasRoutedByCategory(t *testing.T) {
	cfg := configWith(t,
		"    # The type chosen when the feedback is created stays with the record.\n",
		"    # The type chosen when the feedback is created stays with the record.\n    when: \"$.categories[?(@.name == 'Bug')]\"\n",
		"\n  features:\n", "\n  requests:\n    source_url: ${CC_REQUESTS_SOURCE_URL}\n    record_types: [idea]\n    external_reference: Aha Reference\n"+
			"    elements:\n      Title: {path: $.name, required: true}\n      Aha Reference: {path: [$.reference_num, $.id], required: true}\n\n  features:\n")
	e := startStack(t, func(o *devstack.Options) { o.ConfigPath = cfg })
	aha, cc := e.stack.AhaSim, e.stack.CCSim
	bug, err := aha.CreateIdea("PRJ1", map[string]any{"name": "Crash on export", "categories": []any{"Bug"}})
	require.NoError(t, err)
	req, err := aha.CreateIdea("PRJ1", map[string]any{"name": "Dark mode", "categories": []any{"UX"}})
	require.NoError(t, err)
	for _, id := range []string{bug.ID, req.ID} {
		e.waitState(t, contract.AhaRecordWorkflowID("idea", id), 30*time.Second, "the idea syncs", func(s workflows.State) bool {
			return s.SyncState == contract.StateSynced && len(s.Links) == 1 && s.Links[0].FeedbackID != ""
		})
	}
	typeOf := func(ref string) []string {
		var out []string
		for _, f := range feedbackByRef(cc)[ref] {
			out = append(out, f.FeedbackType)
		}
		return out
	}
	assert.Equal(t, []string{"bugs"}, typeOf(bug.ReferenceNum))
	assert.Equal(t, []string{"requests"}, typeOf(req.ReferenceNum))

	// The request becomes a bug in Aha!: its feedback stays where it is.
	require.NoError(t, aha.UpdateIdea(req.ID, map[string]any{"name": "Dark mode crashes", "categories": []any{"Bug"}}))
	require.Eventually(t, func() bool {
		list := feedbackByRef(cc)[req.ReferenceNum]
		return len(list) == 1 && content(list[0])["Title"] == "Dark mode crashes"
	}, 30*time.Second, 100*time.Millisecond, "the change updates the requests feedback")
	assert.Equal(t, []string{"requests"}, typeOf(req.ReferenceNum), "no second feedback in bugs")
}
