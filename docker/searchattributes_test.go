package docker

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTemporal is a stand-in for the `temporal` CLI: it logs every call, keeps the
// registered search attributes in a file, and fails `namespace describe` while
// $STATE/down exists and `search-attribute create` once per name listed in $STATE/flaky.
const fakeTemporal = `#!/bin/sh
state="$FAKE_TEMPORAL_STATE"
echo "$*" >> "$state/calls"
case "$1 $2 $3" in
"operator namespace describe")
	[ -e "$state/down" ] && { echo "connection refused" >&2; exit 1; }
	exit 0 ;;
"operator search-attribute list")
	echo "  Name  Type"
	[ -f "$state/attrs" ] && cat "$state/attrs"
	exit 0 ;;
"operator search-attribute create")
	name=""; type=""
	while [ $# -gt 0 ]; do
		case "$1" in
		--name) name="$2"; shift ;;
		--type) type="$2"; shift ;;
		esac
		shift
	done
	if [ -f "$state/flaky" ] && grep -qx "$name" "$state/flaky"; then
		grep -vx "$name" "$state/flaky" > "$state/flaky.new" || true
		mv "$state/flaky.new" "$state/flaky"
		echo "Unavailable" >&2
		exit 1
	fi
	echo "  $name  $type" >> "$state/attrs"
	exit 0 ;;
esac
echo "unexpected call: $*" >&2
exit 2
`

type fakeCLI struct {
	dir, state string
}

func newFakeCLI(t *testing.T) fakeCLI {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	require.NoError(t, os.Mkdir(state, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "temporal"), []byte(fakeTemporal), 0o755))
	return fakeCLI{dir: dir, state: state}
}

func (f fakeCLI) run(t *testing.T, extraEnv ...string) (string, error) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	require.NoError(t, err, "a POSIX sh is needed to run the registration script")
	script, err := filepath.Abs(filepath.Join("temporal", "register-search-attributes.sh"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, script)
	cmd.Env = append([]string{
		"PATH=" + f.dir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FAKE_TEMPORAL_STATE=" + f.state,
		"TEMPORAL_ADDRESS=temporal:7233",
		"TEMPORAL_NAMESPACE=ahacc-ns",
		"SLEEP_SECONDS=0",
		"MAX_ATTEMPTS=3",
	}, extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func (f fakeCLI) calls(t *testing.T, verb string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.state, "calls"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, verb) {
			out = append(out, l)
		}
	}
	return out
}

func TestRegisterSearchAttributesScript(t *testing.T) {
	t.Run("registers all six as Keyword, then is idempotent", func(t *testing.T) {
		f := newFakeCLI(t)
		out, err := f.run(t)
		require.NoError(t, err, out)
		creates := f.calls(t, "operator search-attribute create")
		require.Len(t, creates, len(searchAttributes), out)
		for i, name := range searchAttributes {
			assert.Equal(t,
				"operator search-attribute create --namespace ahacc-ns --address temporal:7233 --name "+name+" --type Keyword",
				creates[i])
		}
		assert.Contains(t, out, "search attributes registered in namespace ahacc-ns")

		out, err = f.run(t)
		require.NoError(t, err, out)
		assert.Len(t, f.calls(t, "operator search-attribute create"), len(searchAttributes), "second run creates nothing")
		assert.Equal(t, len(searchAttributes), strings.Count(out, ": present"))
	})

	t.Run("a name that is a prefix of a registered one is still created", func(t *testing.T) {
		f := newFakeCLI(t)
		require.NoError(t, os.WriteFile(filepath.Join(f.state, "attrs"), []byte("  MacroName  Keyword\n"), 0o644))
		out, err := f.run(t, "AHACC_SEARCH_ATTRIBUTES=Macro")
		require.NoError(t, err, out)
		assert.Len(t, f.calls(t, "operator search-attribute create"), 1)
	})

	t.Run("retries a failed create", func(t *testing.T) {
		f := newFakeCLI(t)
		require.NoError(t, os.WriteFile(filepath.Join(f.state, "flaky"), []byte("SyncState\n"), 0o644))
		out, err := f.run(t)
		require.NoError(t, err, out)
		b, err := os.ReadFile(filepath.Join(f.state, "attrs"))
		require.NoError(t, err)
		for _, name := range searchAttributes {
			assert.Contains(t, string(b), " "+name+"  Keyword")
		}
	})

	t.Run("fails when the namespace never answers", func(t *testing.T) {
		f := newFakeCLI(t)
		require.NoError(t, os.WriteFile(filepath.Join(f.state, "down"), nil, 0o644))
		out, err := f.run(t)
		require.Error(t, err)
		assert.Contains(t, out, "namespace ahacc-ns not reachable at temporal:7233 after 3 attempts")
		assert.Empty(t, f.calls(t, "operator search-attribute create"))
	})

	t.Run("requires TEMPORAL_ADDRESS", func(t *testing.T) {
		f := newFakeCLI(t)
		out, err := f.run(t, "TEMPORAL_ADDRESS=")
		require.Error(t, err)
		assert.Contains(t, out, "TEMPORAL_ADDRESS must be set")
	})
}
