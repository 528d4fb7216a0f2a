// Package docker holds no Go code of its own: its tests check the container and
// deployment files in this folder (Dockerfile, compose.yaml, k8s/) by construction,
// because no Docker engine or cluster is available where the tests run.
package docker

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// appEnv is every environment variable the worker and the starter read, which of
// the two needs it, whether it is a secret, and whether it may be empty (the
// ${VAR:-default} references of ahacc.yaml).
var appEnv = []struct {
	name     string
	worker   bool
	starter  bool
	secret   bool
	optional bool
}{
	{"AHACC_CONFIG", true, true, false, false},
	{"TEMPORAL_ADDRESS", true, true, false, false},
	{"TEMPORAL_NAMESPACE", true, true, false, false},
	{"AHACC_TASK_QUEUE", true, true, false, false},
	{"REDIS_URL", true, true, false, false},
	{"AHA_BASE_URL", true, true, false, false},
	{"AHA_API_KEY", true, true, true, false},
	{"AHA_INTEGRATION_ID", true, true, false, false},
	{"CC_BUGS_SOURCE_URL", true, true, true, false},
	{"CC_FEATURES_SOURCE_URL", true, true, true, false},
	{"CC_FEEDBACK_LISTENER_URL", true, true, true, false},
	{"CC_USER_DATA_LISTENER_URL", true, true, true, false},
	{"CC_COMMENT_LISTENER_URL", true, true, true, true},
	{"CC_STATUS_FIXED_LISTENER_URL", true, true, true, false},
	{"CC_STATUS_WONT_FIX_LISTENER_URL", true, true, true, false},
	{"CC_LOOKUP_URL", true, true, true, true},
	{"CC_PROJECT_KEY", true, true, false, true},
	{"CC_DEFAULT_SUBMITTER", true, true, false, true},
	{"AHACC_HTTP_ADDR", false, true, false, false},
	{"AHACC_AHA_WEBHOOK_TOKEN", false, true, true, false},
	{"AHACC_CENTERCODE_WEBHOOK_TOKEN", false, true, true, false},
	{"AHACC_WORKER_HEALTH_ADDR", true, false, false, false},
	{"AHACC_SHUTDOWN_TIMEOUT", true, true, false, false},
}

// repoRoot is the module root (the docker build context).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"), "docker/ must sit directly under the module root")
	return root
}

// readEnvFile parses a KEY=VALUE file (comments and blank lines ignored).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.Truef(t, ok, "%s: line %q is not KEY=VALUE", path, line)
		env[strings.TrimSpace(k)] = v
	}
	require.NoError(t, sc.Err())
	return env
}

var configVarRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// configVars lists the ${VAR} references of a file (the config expands them from the
// environment at start-up), sorted and unique.
func configVars(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range configVarRe.FindAllStringSubmatch(line, -1) {
			seen[m[1]] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
