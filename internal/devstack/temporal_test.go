package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/cluster"
	"github.com/ahacc/ahacc/internal/contract"
)

func hello(ctx workflow.Context, name string) (string, error) { return "hello " + name, nil }

// TestTemporalKeepsHistoryAcrossRestarts starts the embedded server on a SQLite
// file, runs a workflow, stops, starts again on the same file and finds the
// workflow and the search attributes still there.
func TestTemporalKeepsHistoryAcrossRestarts(t *testing.T) {
	db := filepath.Join(t.TempDir(), "temporal.db")
	keepsHistoryAcrossRestarts(t, TemporalOptions{Addr: "127.0.0.1:0", UIAddr: "127.0.0.1:0", DBFile: db})
}

// keepsHistoryAcrossRestarts runs a workflow on a server started with opts
// (and checks its UI when it has one), stops it, starts it again and finds
// the run and ahacc's search attributes.
func keepsHistoryAcrossRestarts(t *testing.T, opts TemporalOptions) {
	ctx := context.Background()
	ts, err := StartTemporal(ctx, opts)
	require.NoError(t, err)
	c, err := client.Dial(client.Options{HostPort: ts.Addr(), Logger: quietSDKLogger()})
	require.NoError(t, err)
	w := worker.New(c, "q", worker.Options{})
	w.RegisterWorkflow(hello)
	require.NoError(t, w.Start())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-persist", TaskQueue: "q"}, hello, "ahacc")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "hello ahacc", got)
	if ts.UIURL() != "" {
		resp, err := http.Get(ts.UIURL() + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}
	w.Stop()
	c.Close()
	ts.Stop()

	ts, err = StartTemporal(ctx, opts)
	require.NoError(t, err)
	defer ts.Stop()
	c, err = client.Dial(client.Options{HostPort: ts.Addr(), Logger: quietSDKLogger()})
	require.NoError(t, err)
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "wf-persist", "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status)
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	for _, name := range contract.SearchAttributeNames {
		require.Contains(t, sas.CustomAttributes, name)
	}
}

// testPostgres is a fresh database URL on the PostgreSQL the tests use
// (AHACC_TEST_POSTGRES, default postgres://postgres@127.0.0.1:5432; CI starts
// it), dropped with its _visibility twin at cleanup.
func testPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("AHACC_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432"
	}
	u, err := url.Parse(base)
	require.NoError(t, err)
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Skipf("no PostgreSQL answers at %s (set AHACC_TEST_POSTGRES; CI starts one): %v", u.Host, err)
	}
	conn.Close()
	db := fmt.Sprintf("ahacc_test_%d", time.Now().UnixNano())
	u.Path = "/" + db
	t.Cleanup(func() {
		pw, _ := u.User.Password()
		if err := cluster.DropDatabases(u.Hostname(), u.Port(), u.User.Username(), pw, db); err != nil {
			t.Log(err)
		}
	})
	return u.String()
}

// TestTemporalOnPostgresKeepsHistoryAcrossRestarts is the SQLite test above on
// PostgreSQL (AHACC_TEMPORAL_DB): a fresh database gets its schema and the
// namespace on first start, and a second start finds the run and the search
// attributes.
func TestTemporalOnPostgresKeepsHistoryAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal twice")
	}
	keepsHistoryAcrossRestarts(t, TemporalOptions{Addr: "127.0.0.1:0", UIAddr: "off", DBURL: testPostgres(t)})
}

func TestPostgresURL(t *testing.T) {
	def, vis, err := postgresStores("postgres://ahacc:s3cret@db.internal:6543/tmp")
	require.NoError(t, err)
	require.Equal(t, "db.internal:6543", def.ConnectAddr)
	require.Equal(t, "tmp", def.DatabaseName)
	require.Equal(t, "tmp_visibility", vis.DatabaseName)
	require.Equal(t, "s3cret", vis.Password)
	def, _, err = postgresStores("postgresql://postgres@127.0.0.1")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:5432", def.ConnectAddr)
	require.Equal(t, "temporal", def.DatabaseName)
	for _, bad := range []string{"mysql://x@h/db", "postgres:///db", "postgres://u:pw@h/db?sslmode=require", "postgres://u:pw@h/db?search_path=x"} {
		_, _, err := postgresStores(bad)
		require.Error(t, err, bad)
		require.NotContains(t, err.Error(), "pw@", "the password stays out of the message")
	}
}

// TestSetupTemporalOnAnotherNamespace registers a namespace and the search
// attributes through the frontend (the path starter setup-temporal takes),
// idempotently, and fails at once, naming the fix, when an attribute exists
// with another type.
func TestSetupTemporalOnAnotherNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ts, err := StartTemporal(ctx, TemporalOptions{Addr: "127.0.0.1:0", UIAddr: "off"})
	require.NoError(t, err)
	defer ts.Stop()
	dial := func(ns string) client.Client {
		c, err := client.Dial(client.Options{HostPort: ts.Addr(), Namespace: ns, Logger: quietSDKLogger()})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		return c
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	done, err := app.SetupTemporal(ctx, dial("ahacc-b"), "ahacc-b", time.Hour, logger)
	require.NoError(t, err)
	require.Contains(t, done, "namespace ahacc-b: registered (retention 1h0m0s)")
	require.Contains(t, done, "search attributes: usable (a probe workflow started with them, then terminated)")
	done, err = app.SetupTemporal(ctx, dial("ahacc-b"), "ahacc-b", time.Hour, logger)
	require.NoError(t, err)
	require.Contains(t, done, "namespace ahacc-b: present")
	require.NotContains(t, strings.Join(done, "\n"), "probe", "nothing changed: no probe")

	c := dial("ahacc-c")
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: "ahacc-c",
		WorkflowExecutionRetentionPeriod: durationpb.New(time.Hour)})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: "ahacc-c",
			SearchAttributes: map[string]enumspb.IndexedValueType{"Macro": enumspb.INDEXED_VALUE_TYPE_TEXT}})
		return err == nil
	}, 30*time.Second, 200*time.Millisecond)
	start := time.Now()
	_, err = app.SetupTemporal(ctx, c, "ahacc-c", time.Hour, logger)
	require.ErrorContains(t, err, "search attribute Macro exists as Text; ahacc writes it as Keyword")
	require.Less(t, time.Since(start), 10*time.Second, "a wrong type is not asked again for minutes")
}

// TestStartTemporalOnABusyPortIsAnError: a service port another process holds
// is an error from StartTemporal, not a panic inside the server (the server's
// rpc factory reports a failed listen through its logger's Fatal, which the
// discarding logger ignored, and then served on a nil listener).
func TestStartTemporalOnABusyPortIsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = StartTemporal(context.Background(), TemporalOptions{Addr: ln.Addr().String(), UIAddr: "off"})
	require.ErrorContains(t, err, "address already in use")
	t.Log(err)
}

// TestTemporalServesItsActionMetric: with MetricsAddr the embedded server
// serves its own metrics, the action counter (what Temporal Cloud bills)
// among them.
func TestTemporalServesItsActionMetric(t *testing.T) {
	ctx := context.Background()
	ts, err := StartTemporal(ctx, TemporalOptions{Addr: "127.0.0.1:0", UIAddr: "off", MetricsAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	defer ts.Stop()
	c, err := client.Dial(client.Options{HostPort: ts.Addr(), Logger: quietSDKLogger()})
	require.NoError(t, err)
	defer c.Close()
	w := worker.New(c, "q", worker.Options{})
	w.RegisterWorkflow(hello)
	require.NoError(t, w.Start())
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-metrics", TaskQueue: "q"}, hello, "ahacc")
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	resp, err := http.Get(ts.MetricsURL())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if testing.Verbose() {
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "action_total") {
				t.Log(l)
			}
		}
	}
	require.Regexp(t, `(?m)^action_total\{.*action_type="grpc_StartWorkflowExecution".*\} 1$`, string(body))
}
