package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/activities"
	"github.com/ahacc/ahacc/mapping"
)

// SIGHUP swaps in the edited config; an invalid edit is refused and the
// current config stays.
func TestReloadOnSIGHUP(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "ahacc.yaml"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ahacc.yaml")
	require.NoError(t, os.WriteFile(path, src, 0o600))
	for _, k := range []string{"AHA_BASE_URL", "CC_BUGS_SOURCE_URL", "CC_FEATURES_SOURCE_URL", "CC_FEEDBACK_LISTENER_URL",
		"CC_USER_DATA_LISTENER_URL", "CC_STATUS_FIXED_LISTENER_URL", "CC_STATUS_WONT_FIX_LISTENER_URL"} {
		t.Setenv(k, "https://example.com/x?apiKey=k")
	}
	t.Setenv("AHA_API_KEY", "key")
	t.Setenv("AHA_INTEGRATION_ID", "4242")
	env := Env{ConfigPath: path}
	first, err := LoadConfig(env)
	require.NoError(t, err)
	store := activities.NewConfigStore(first)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ReloadOnSIGHUP(ctx, env, store, slog.New(slog.NewTextHandler(io.Discard, nil)))

	hup := func() { require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP)) }
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(src), "debounce: 2s", "debounce: 3s", 1)), 0o600))
	hup()
	require.Eventually(t, func() bool { return store.Load().Sync.Debounce == 3*time.Second }, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, os.WriteFile(path, []byte("aha: [broken"), 0o600))
	hup()
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 3*time.Second, store.Load().Sync.Debounce, "the broken edit is refused")
	var cfg *mapping.Config = store.Load()
	require.NotNil(t, cfg)
}
