package cluster

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ahacc/ahacc/internal/contract"
)

func repo() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func hello(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greet, name).Get(ctx, &out)
	return out, err
}

func greet(_ context.Context, name string) (string, error) { return "hello " + name, nil }

// TestClusterOnPostgreSQL brings up the four services on fresh databases,
// runs a workflow with an activity, SIGKILLs and restarts the history service,
// and runs another: the first one's history is still there.
func TestClusterOnPostgreSQL(t *testing.T) {
	if !Enabled() {
		t.Skip("cluster tests: make test-cluster (AHACC_TEST_CLUSTER=1; PostgreSQL at 127.0.0.1:5432)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	starter := filepath.Join(os.Getenv("AHACC_BIN_DIR"), "starter") // make build's, under make test-cluster
	var out []byte
	var err error
	if os.Getenv("AHACC_BIN_DIR") == "" {
		starter = filepath.Join(t.TempDir(), "starter")
		build := exec.Command("go", "build", "-o", starter, "./starter")
		build.Dir = repo()
		out, err = build.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	c, err := Start(ctx, Options{Repo: repo(), Dir: t.TempDir(), Starter: starter, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(c.Stop)

	tc, err := client.DialContext(ctx, client.Options{HostPort: c.Frontend, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	defer tc.Close()
	sas, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	for _, name := range contract.SearchAttributeNames {
		require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, sas.CustomAttributes[name], name)
	}
	w := worker.New(tc, "q", worker.Options{})
	w.RegisterWorkflow(hello)
	w.RegisterActivity(greet)
	require.NoError(t, w.Start())
	defer w.Stop()

	run := func(id string) string {
		r, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "q"}, hello, id)
		require.NoError(t, err, c.LogTail(30))
		var got string
		require.NoError(t, r.Get(ctx, &got))
		return got
	}
	require.Equal(t, "hello one", run("one"))
	require.NoError(t, c.Restart("history"))
	require.Equal(t, "hello two", run("two"))
	desc, err := tc.DescribeWorkflowExecution(ctx, "one", "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status)

	// Running setup again changes nothing (compose runs it on every up).
	again := exec.Command(starter, "setup-temporal")
	again.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+c.Frontend, "TEMPORAL_NAMESPACE=default")
	out, err = again.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "namespace default: present")
	require.NotContains(t, string(out), "registered")
}

// TestServerEnvIsWhatTheClusterSets keeps ServerEnv (what docker/'s drift test
// compares compose with) equal to what Start really sets.
func TestServerEnvIsWhatTheClusterSets(t *testing.T) {
	c := &Cluster{o: Options{PGHost: "h", PGPort: "1", PGUser: "u", DBName: "d", HistoryShards: 4}, ports: map[string]int{"FRONTEND_GRPC": 1}}
	c.env = c.serverEnv("dyn.yaml")
	var names []string
	for _, kv := range c.env {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasSuffix(k, "_PORT") || k == "DB_PORT" {
			names = append(names, k)
		}
	}
	require.ElementsMatch(t, ServerEnv, names)
}
