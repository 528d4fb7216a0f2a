package devstack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/sandbox/centercode"
	"github.com/ahacc/ahacc/mapping"
)

func TestCCStatusVar(t *testing.T) {
	assert.Equal(t, "CC_STATUS_FIXED_LISTENER_URL", CCStatusVar("Fixed"))
	assert.Equal(t, "CC_STATUS_WONT_FIX_LISTENER_URL", CCStatusVar("Won't Fix"))
	assert.Equal(t, "CC_STATUS_IN_REVIEW_LISTENER_URL", CCStatusVar(" In  Review! "))
	assert.Equal(t, "set-wont-fix", statusListenerKey("Won’t Fix"))
}

// The simulator gets, besides the data listeners, a comment listener and one
// listener per centercode.status_listeners status whose macro sets it, and
// every source knows that status.
func TestCentercodeSimConfigHasTheConfigsListeners(t *testing.T) {
	cfg, err := mapping.LoadFileWithOptions(repoConfig(), mapping.LoadOptions{LookupEnv: noEnv, AllowUnsetEnv: true})
	require.NoError(t, err)
	cfg.Centercode.StatusListeners["shipped to beta"] = ""
	sim := CentercodeSimConfig(cfg)
	byKey := map[string]centercode.Listener{}
	for _, l := range sim.Listeners {
		byKey[l.Key] = l
	}
	assert.Equal(t, centercode.ActionComment, byKey[listenerFeedbackComment].Action)
	for key, status := range map[string]string{"set-fixed": "Fixed", "set-wont-fix": "Won't Fix", "set-shipped-to-beta": "shipped to beta"} {
		l, ok := byKey[key]
		require.True(t, ok, key)
		assert.Equal(t, centercode.ActionRunMacro, l.Action, key)
		assert.Equal(t, centercode.TargetFeedback, l.Target, key)
		assert.Equal(t, status, l.SetStatus, key)
		for _, src := range sim.Sources {
			assert.Contains(t, src.Statuses, status, "source %s knows %q", src.Key, status)
		}
	}
	_, err = centercode.New(sim)
	require.NoError(t, err, "the simulator accepts it")
}
