// Package devstack runs everything ahacc needs on one machine, in one process:
// an embedded Temporal server (SQLite, WAL) with its Web UI, Redis (or an
// in-process stand-in), the Aha! and Centercode simulators, the worker and the
// starter. It backs `make run` and the end-to-end tests. It links
// go.temporal.io/server, so only the dev binary and tests import it.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/contract"
)

// TemporalOptions configures the embedded Temporal server.
type TemporalOptions struct {
	// Addr is the frontend gRPC address (default 127.0.0.1:7233; port 0 picks a free one).
	Addr string
	// UIAddr is the Web UI address (default 127.0.0.1:8233); "off" disables the UI.
	UIAddr string
	// DBFile is the SQLite file; empty means in memory (nothing kept).
	DBFile string
	// DBURL, when set (AHACC_TEMPORAL_DB), puts Temporal on PostgreSQL instead:
	// postgres://user[:password]@host[:port]/database, visibility in
	// database_visibility; both are created and their schema brought up to
	// date on start.
	DBURL string
	// MetricsAddr, when set, serves the server's own Prometheus metrics
	// (host:port, path /metrics; port 0 picks a free one); empty: none.
	MetricsAddr string
	// Namespace to create (default "default").
	Namespace string
	// LogLevel of the server's own logs (default "warn").
	LogLevel string
	// LogFile receives the server's own logs; empty discards them (the server
	// is chatty and its lines would drown ahacc's).
	LogFile string
	// SQLiteConns is the connection pool size (default 1, AHACC_SQLITE_CONNS).
	SQLiteConns int
	// CodecEndpoint is shown to the UI so it can decode encrypted payloads.
	CodecEndpoint string
	Logger        *slog.Logger
}

// Temporal is a running embedded Temporal server and, optionally, its Web UI.
type Temporal struct {
	server     temporal.Server
	metricsURL string
	ui         *uiserver.Server
	uiDone     chan struct{}
	addr       string
	uiURL      string
	namespace  string
}

// Addr is the frontend host:port.
func (t *Temporal) Addr() string { return t.addr }

// UIURL is the Web UI base URL, or "" when the UI is off.
func (t *Temporal) UIURL() string { return t.uiURL }

// MetricsURL is where the server's own metrics are served, or "".
func (t *Temporal) MetricsURL() string { return t.metricsURL }

// Namespace is the namespace the server was started with.
func (t *Temporal) Namespace() string { return t.namespace }

// SearchAttributes are the custom search attributes ahacc registers (all Keyword).
func SearchAttributes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, name := range contract.SearchAttributeNames {
		out[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return out
}

// StartTemporal starts the server (and UI) and returns once the frontend answers
// and the custom search attributes are registered.
func StartTemporal(ctx context.Context, o TemporalOptions) (*Temporal, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:7233"
	}
	if o.UIAddr == "" {
		o.UIAddr = "127.0.0.1:8233"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if o.SQLiteConns <= 0 {
		o.SQLiteConns = 1
		if n, err := strconv.Atoi(os.Getenv("AHACC_SQLITE_CONNS")); err == nil && n > 0 {
			o.SQLiteConns = n
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	host, port, err := resolveAddr(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("temporal address %q: %w", o.Addr, err)
	}
	httpPort, err := freePort(host)
	if err != nil {
		return nil, err
	}
	var logger log.Logger = log.NewNoopLogger()
	if o.LogFile != "" {
		logger = log.NewZapLogger(log.BuildZapLogger(log.Config{Level: o.LogLevel, OutputFile: o.LogFile}))
	}
	logger = fatalAsPanic{logger}
	conf, err := serverConfig(host, port, httpPort, o, logger)
	if err != nil {
		return nil, err
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("claim mapper: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// The UI's "reset" and the operator commands need these on a dev server.
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key(): true,
		// A worker that schedules an activity on its own task queue may run it
		// at once, saving a matching round trip per activity (on by default in
		// Temporal Cloud and recent servers).
		dynamicconfig.EnableActivityEagerExecution.Key(): true,
	}
	srv, err := newServer(conf, hosts, logger, authorizer, claimMapper, dyn)
	if err != nil {
		return nil, err
	}
	t := &Temporal{server: srv, addr: net.JoinHostPort(host, strconv.Itoa(port)), namespace: o.Namespace}
	if conf.Global.Metrics != nil {
		t.metricsURL = "http://" + conf.Global.Metrics.Prometheus.ListenAddress + "/metrics"
	}
	if err := t.setUp(ctx, o.Logger); err != nil {
		t.Stop()
		return nil, err
	}
	if o.UIAddr != "off" {
		if err := t.startUI(o); err != nil {
			t.Stop()
			return nil, err
		}
	}
	return t, nil
}

// newServer builds and starts the server; a Fatal inside it (a port it could
// not bind) is an error here.
func newServer(conf *config.Config, hosts map[primitives.ServiceName]static.Hosts, logger log.Logger,
	authorizer authorization.Authorizer, claimMapper authorization.ClaimMapper, dyn dynamicconfig.Client) (srv temporal.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(serverFatal)
			if !ok {
				panic(r)
			}
			if srv != nil {
				_ = srv.Stop()
			}
			srv, err = nil, fmt.Errorf("start temporal server: %s", f.msg)
		}
	}()
	srv, err = temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	return srv, nil
}

// Stop stops the UI and the server. Safe to call once.
func (t *Temporal) Stop() {
	if t.ui != nil {
		t.ui.Stop()
		<-t.uiDone
	}
	if t.server != nil {
		_ = t.server.Stop()
	}
}

func serverConfig(host string, port, httpPort int, o TemporalOptions, logger log.Logger) (*config.Config, error) {
	var conf config.Config
	if o.DBURL != "" {
		def, vis, err := postgresStores(o.DBURL)
		if err != nil {
			return nil, err
		}
		if err := setUpPostgres(def, "postgresql/v12/temporal", logger); err != nil {
			return nil, err
		}
		if err := setUpPostgres(vis, "postgresql/v12/visibility", logger); err != nil {
			return nil, err
		}
		conf.Persistence.DefaultStore = "postgres-default"
		conf.Persistence.VisibilityStore = "postgres-visibility"
		// Fixed for a database's life: the count the server's own template uses.
		conf.Persistence.NumHistoryShards = 4
		conf.Persistence.DataStores = map[string]config.DataStore{"postgres-default": {SQL: def}, "postgres-visibility": {SQL: vis}}
		// The namespace is registered through the frontend once it serves (setUp).
	} else {
		sqlConf, err := sqliteStore(o)
		if err != nil {
			return nil, err
		}
		conf.Persistence.DefaultStore = "sqlite-default"
		conf.Persistence.VisibilityStore = "sqlite-default"
		conf.Persistence.NumHistoryShards = 1
		conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}}
	}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             addr,
				HTTPAddress:            net.JoinHostPort(host, strconv.Itoa(httpPort)),
				ClusterID:              "ahacc-dev",
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = host
		if name == "frontend" {
			svc.RPC.GRPCPort = port
			svc.RPC.HTTPPort = httpPort
		} else {
			p, err := freePort(host)
			if err != nil {
				return nil, err
			}
			svc.RPC.GRPCPort = p
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = addr
	if o.MetricsAddr != "" {
		mhost, mport, err := resolveAddr(o.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("temporal metrics address %q: %w", o.MetricsAddr, err)
		}
		conf.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			Framework: metrics.FrameworkOpentelemetry, ListenAddress: net.JoinHostPort(mhost, strconv.Itoa(mport))}}
	}
	return &conf, nil
}

// sqliteStore is the SQLite store (a file, or memory), schema and namespace
// created when new.
func sqliteStore(o TemporalOptions) (*config.SQL, error) {
	sqlConf := &config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if o.DBFile == "" {
		sqlConf.ConnectAttributes["mode"] = "memory"
		sqlConf.ConnectAttributes["cache"] = "shared"
		sqlConf.DatabaseName = fmt.Sprintf("ahacc-%d", time.Now().UnixNano())
	} else {
		if err := os.MkdirAll(filepath.Dir(o.DBFile), 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		sqlConf.ConnectAttributes["mode"] = "rwc"
		// WAL lets readers (visibility queries, the UI) run beside the single writer.
		sqlConf.ConnectAttributes["journal_mode"] = "wal"
		sqlConf.ConnectAttributes["synchronous"] = "normal"
		sqlConf.ConnectAttributes["busy_timeout"] = "10000"
		// One connection: SQLite has one writer, and more connections only
		// trade throughput for SQLITE_BUSY retries inside the server.
		sqlConf.MaxConns = o.SQLiteConns
		sqlConf.MaxIdleConns = o.SQLiteConns
		sqlConf.DatabaseName = o.DBFile
		if _, err := os.Stat(o.DBFile); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(sqlConf); err != nil {
				return nil, fmt.Errorf("set up sqlite schema: %w", err)
			}
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", o.Namespace, false, SearchAttributes())
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}
	return sqlConf, nil
}

// setUp registers the namespace (on PostgreSQL; SQLite has it from its
// schema step) and any of ahacc's search attributes it lacks, so a database
// created by an older ahacc gains the new ones on start: the path
// `starter setup-temporal` takes on a real cluster.
func (t *Temporal) setUp(ctx context.Context, logger *slog.Logger) error {
	c, err := dialWithRetry(ctx, t.addr, t.namespace)
	if err != nil {
		return err
	}
	defer c.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = app.SetupTemporal(sctx, c, t.namespace, app.DefaultNamespaceRetention, logger)
	return err
}

func (t *Temporal) startUI(o TemporalOptions) error {
	host, port, err := resolveAddr(o.UIAddr)
	if err != nil {
		return fmt.Errorf("UI address %q: %w", o.UIAddr, err)
	}
	// The UI server exits the process when it cannot bind, so check first.
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("UI address %s: %w", o.UIAddr, err)
	}
	_ = l.Close()
	t.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: t.addr,
		EnableUI:            true,
		DefaultNamespace:    t.namespace,
		Codec:               uiconfig.Codec{Endpoint: o.CodecEndpoint},
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
		// Operators retry and skip parked records from the UI: keep signal,
		// reset and terminate enabled (these are the defaults; stated here on purpose).
		DisableWriteActions:       false,
		WorkflowSignalDisabled:    false,
		WorkflowResetDisabled:     false,
		WorkflowTerminateDisabled: false,
	}))
	t.uiDone = make(chan struct{})
	go func() {
		defer close(t.uiDone)
		if err := t.ui.Start(); err != nil {
			o.Logger.Error("temporal UI stopped", "error", err)
		}
	}()
	t.uiURL = "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	return waitHTTP(context.Background(), t.uiURL+"/healthz", 15*time.Second)
}

func dialWithRetry(ctx context.Context, addr, ns string) (client.Client, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := client.Dial(client.Options{HostPort: addr, Namespace: ns, Logger: quietSDKLogger()})
		if err == nil {
			if _, err = c.CheckHealth(ctx, &client.CheckHealthRequest{}); err == nil {
				return c, nil
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("temporal at %s did not answer: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fatalAsPanic turns the server's Fatal log calls into a panic StartTemporal
// recovers as an error: the server reports a port it cannot bind through
// Fatal, and a logger that does not exit would let it serve a nil listener.
type fatalAsPanic struct{ log.Logger }

type serverFatal struct{ msg string }

func (f fatalAsPanic) Fatal(msg string, tags ...tag.Tag) {
	f.Logger.Error(msg, tags...)
	for _, t := range tags {
		msg += fmt.Sprintf(" %s=%v", t.Key(), t.Value())
	}
	panic(serverFatal{msg})
}
