package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/metrics"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
	ccsim "github.com/ahacc/ahacc/internal/sandbox/centercode"
	"github.com/ahacc/ahacc/mapping"
)

// Options configures the whole dev stack. Every address can be overridden by
// environment (see FromEnv); tests use port 0 everywhere.
type Options struct {
	// DataDir keeps the Temporal database and logs (default .data). Empty with
	// Ephemeral set keeps everything in memory.
	DataDir   string
	Ephemeral bool
	// TemporalDB (AHACC_TEMPORAL_DB) puts the embedded Temporal on PostgreSQL
	// (postgres://user[:password]@host[:port]/database) instead of the SQLite
	// file in DataDir; schema created on first start.
	TemporalDB string
	// Addresses (host:port). Defaults: Temporal 127.0.0.1:7233, UI
	// 127.0.0.1:8233 ("off" disables), starter 127.0.0.1:8080, simulators 127.0.0.1:8081/8082.
	TemporalAddr, UIAddr, HTTPAddr, AhaSimAddr, CCSimAddr string
	// TemporalMetricsAddr (AHACC_TEMPORAL_METRICS_ADDR), when set, serves the
	// embedded server's own Prometheus metrics there (its action counter among
	// them: what Temporal Cloud would bill); empty: none.
	TemporalMetricsAddr string
	// ConfigPath is the ahacc.yaml (default examples/ahacc.yaml).
	ConfigPath string
	// LookupEnv reads the environment (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
	Logger    *slog.Logger
	// AhaSim and CCSim adjust the simulators before they start (tests).
	AhaSim func(*ahasim.Options)
	CCSim  func(*ccsim.Config)
	// Worker adjusts the in-process worker's options (tests).
	Worker func(*app.WorkerOptions)
	// NoWorker skips the in-process worker (tests that run it as a separate process).
	NoWorker bool
	// TemporalFrontend, when set, is an existing Temporal (host:port, namespace
	// "default", already set up): no embedded server is started (the cluster tests).
	TemporalFrontend string
	// PublicURL is where the simulators post webhooks and what the banner
	// shows: a load balancer in front of several starters. Default: the
	// in-process starter's own URL.
	PublicURL string
	// TemporalClientAddr, when set, gives the address the worker and starter
	// dial instead of the frontend's own (tests put a proxy there to cut it).
	TemporalClientAddr func(frontend string) (string, error)
}

// FromEnv fills the addresses from AHACC_* variables.
func FromEnv(o Options) Options {
	get := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	o.DataDir = get("AHACC_DATA_DIR", ".data")
	o.TemporalDB = os.Getenv("AHACC_TEMPORAL_DB")
	o.TemporalAddr = get("AHACC_TEMPORAL_ADDR", "127.0.0.1:7233")
	o.UIAddr = get("AHACC_UI_ADDR", "127.0.0.1:8233")
	o.HTTPAddr = get("AHACC_HTTP_ADDR", "127.0.0.1:8080")
	o.AhaSimAddr = get("AHACC_AHA_SIM_ADDR", "127.0.0.1:8081")
	o.CCSimAddr = get("AHACC_CC_SIM_ADDR", "127.0.0.1:8082")
	o.TemporalMetricsAddr = os.Getenv("AHACC_TEMPORAL_METRICS_ADDR")
	o.ConfigPath = get("AHACC_CONFIG", "examples/ahacc.yaml")
	return o
}

// Stack is the running dev stack.
type Stack struct {
	Temporal *Temporal
	Redis    *Redis
	AhaSim   *ahasim.Server   // nil when a real Aha! is configured
	CCSim    *ccsim.Server    // nil when a real Centercode is configured
	Client   client.Client    // Temporal client shared by worker and starter
	Metrics  *metrics.Metrics // one registry for the whole process, served on the starter's /metrics
	Worker   *app.Worker      // nil with NoWorker
	Starter  *app.Starter
	Env      app.Env           // what the worker and starter were built with
	Config   *mapping.Config   // the loaded config
	Vars     map[string]string // the variables the stack provided (sim URLs, keys, tokens)
	HTTPURL  string            // the starter's base URL
	opts     Options
	stops    []func()
	httpDone chan error
}

// Start brings everything up; on error, whatever started is stopped again.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.ConfigPath == "" {
		o.ConfigPath = "examples/ahacc.yaml"
	}
	for _, p := range []*string{&o.TemporalAddr, &o.HTTPAddr, &o.AhaSimAddr, &o.CCSimAddr} {
		if *p == "" {
			*p = "127.0.0.1:0"
		}
	}
	s = &Stack{opts: o, Vars: map[string]string{}}
	defer func() {
		if err != nil {
			s.Stop()
			s = nil
		}
	}()

	// Temporal (+ UI).
	topts := TemporalOptions{Addr: o.TemporalAddr, UIAddr: o.UIAddr, Logger: o.Logger, DBURL: o.TemporalDB, MetricsAddr: o.TemporalMetricsAddr}
	if o.TemporalDB != "" {
		o.Logger.Info("temporal on PostgreSQL", "db", redactURL(o.TemporalDB))
	}
	if !o.Ephemeral {
		if o.DataDir == "" {
			o.DataDir = ".data"
		}
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return s, fmt.Errorf("data dir: %w", err)
		}
		if o.TemporalDB == "" {
			topts.DBFile = filepath.Join(o.DataDir, "temporal.db")
		}
		topts.LogFile = filepath.Join(o.DataDir, "temporal-server.log")
	}
	if o.TemporalFrontend != "" {
		s.Temporal = &Temporal{addr: o.TemporalFrontend, namespace: "default"}
	} else if s.Temporal, err = StartTemporal(ctx, topts); err != nil {
		return s, err
	}
	s.stops = append(s.stops, s.Temporal.Stop)

	// Redis: REDIS_URL, or an in-process stand-in.
	redisURL, _ := o.LookupEnv("REDIS_URL")
	if s.Redis, err = StartRedis(redisURL); err != nil {
		return s, err
	}
	s.stops = append(s.stops, s.Redis.Stop)
	s.Vars["REDIS_URL"] = s.Redis.URL

	// The starter's address is needed before it serves (the Aha! simulator
	// posts webhooks to it), so its socket is bound now and kept: a port
	// picked free and bound later can be taken meanwhile (a seed of the
	// invariant harness failed with "address already in use" that way).
	httpLn, err := listenTCP(o.HTTPAddr)
	if err != nil {
		return s, fmt.Errorf("starter address %s: %w", o.HTTPAddr, err)
	}
	s.stops = append(s.stops, func() { _ = httpLn.Close() })
	httpAddr := httpLn.Addr().String()
	s.HTTPURL = "http://" + httpAddr
	if o.PublicURL != "" {
		s.HTTPURL = strings.TrimRight(o.PublicURL, "/")
	}

	// Learn the config's shape (feedback types, elements) before its
	// ${VARS} can be filled with the simulators' URLs.
	shape, err := mapping.LoadFileWithOptions(o.ConfigPath, mapping.LoadOptions{LookupEnv: o.LookupEnv, AllowUnsetEnv: true})
	if err != nil {
		return s, err
	}
	s.setDefault("AHACC_AHA_WEBHOOK_TOKEN", randomToken())
	s.setDefault("AHACC_CENTERCODE_WEBHOOK_TOKEN", randomToken())
	if err := s.startAhaSim(shape); err != nil {
		return s, err
	}
	if err := s.startCCSim(shape); err != nil {
		return s, err
	}

	// The real config, read exactly as the worker and starter binaries read it.
	lookup := s.lookup
	cfg, err := mapping.LoadFileWithOptions(o.ConfigPath, mapping.LoadOptions{LookupEnv: lookup})
	if err != nil {
		return s, err
	}
	s.Config = cfg
	s.Env = app.EnvFrom(func(k string) string { v, _ := lookup(k); return v })
	s.Env.HTTPAddr = httpAddr
	s.Env.TemporalAddress = s.Temporal.Addr()
	if o.TemporalClientAddr != nil {
		if s.Env.TemporalAddress, err = o.TemporalClientAddr(s.Temporal.Addr()); err != nil {
			return s, err
		}
	}
	s.Env.Namespace = s.Temporal.Namespace()
	s.Env.ConfigPath = o.ConfigPath

	s.Metrics = metrics.New(metrics.ComponentDev)
	if s.Client, err = client.DialContext(ctx, client.Options{HostPort: s.Env.TemporalAddress, Namespace: s.Temporal.Namespace(),
		Logger: sdklog.NewStructuredLogger(o.Logger.With("component", "temporal-sdk")), MetricsHandler: s.Metrics.SDKHandler()}); err != nil {
		return s, fmt.Errorf("temporal client: %w", err)
	}
	s.stops = append(s.stops, s.Client.Close)

	rdb, err := app.NewRedis(ctx, s.Redis.URL)
	if err != nil {
		return s, err
	}
	s.stops = append(s.stops, func() { _ = rdb.Close() })
	if !o.NoWorker {
		wo := app.WorkerOptions{Env: s.Env, Config: cfg, Temporal: s.Client, Redis: rdb, Logger: o.Logger, Metrics: s.Metrics}
		if o.Worker != nil {
			o.Worker(&wo)
		}
		if s.Worker, err = app.StartWorker(wo); err != nil {
			return s, err
		}
		s.stops = append(s.stops, s.Worker.Stop)
	}

	s.Starter = app.NewStarter(app.StarterOptions{Env: s.Env, Config: func() *mapping.Config { return cfg },
		Temporal: s.Client, Redis: rdb, Logger: o.Logger, Metrics: s.Metrics,
		MetricsHandler: s.Metrics.Handler()})
	s.httpDone = make(chan error, 1)
	go func() { s.httpDone <- s.Starter.HTTP.App().Listener(httpLn) }()
	s.stops = append(s.stops, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Starter.HTTP.Shutdown(sctx)
		<-s.httpDone
	})
	if err := waitHTTP(ctx, "http://"+httpAddr+"/healthz", 10*time.Second); err != nil {
		return s, err
	}
	return s, nil
}

// lookup reads the real environment first, then what the stack provides:
// configured real endpoints always win over the simulators.
func (s *Stack) lookup(k string) (string, bool) {
	if v, ok := s.opts.LookupEnv(k); ok && v != "" {
		return v, true
	}
	v, ok := s.Vars[k]
	return v, ok
}

func (s *Stack) setDefault(k, v string) {
	if cur, ok := s.opts.LookupEnv(k); !ok || cur == "" {
		s.Vars[k] = v
	}
}

func (s *Stack) hasEnv(k string) bool {
	v, ok := s.opts.LookupEnv(k)
	return ok && v != ""
}

func (s *Stack) startAhaSim(shape *mapping.Config) error {
	if s.hasEnv("AHA_BASE_URL") {
		return nil // a real Aha! (or another simulator) is configured
	}
	token, _ := s.lookup("AHACC_AHA_WEBHOOK_TOKEN")
	key := randomToken()
	opts := ahasim.Options{APIKey: key, Company: "ahacc-dev", WebhookURL: s.HTTPURL + "/webhooks/aha/" + firstToken(token), Logger: s.opts.Logger}
	if s.opts.AhaSim != nil {
		s.opts.AhaSim(&opts)
	}
	s.AhaSim = ahasim.New(opts)
	if err := s.AhaSim.Start(s.opts.AhaSimAddr); err != nil {
		return fmt.Errorf("start Aha! simulator: %w", err)
	}
	s.stops = append(s.stops, func() { _ = s.AhaSim.Close() })
	s.Vars["AHA_BASE_URL"] = s.AhaSim.URL()
	s.Vars["AHA_API_KEY"] = key
	s.Vars["AHA_INTEGRATION_ID"] = ahasim.CentercodeIntegrationID
	return nil
}

// ccSourceVar is the variable the example config reads for a feedback type's
// external source URL.
func ccSourceVar(feedbackType string) string {
	return "CC_" + strings.ToUpper(strings.NewReplacer("-", "_", " ", "_").Replace(feedbackType)) + "_SOURCE_URL"
}

// CCStatusVar is the variable the dev stack sets to the URL of the listener
// that sets a Centercode status (centercode.status_listeners): "Won't Fix" →
// CC_STATUS_WONT_FIX_LISTENER_URL.
func CCStatusVar(status string) string {
	return "CC_STATUS_" + strings.ToUpper(statusSlug(status, '_')) + "_LISTENER_URL"
}

// statusSlug keeps a status's letters and digits, apostrophes dropped and
// other runs turned into sep: "Won't Fix" → "Wont_Fix".
func statusSlug(status string, sep rune) string {
	var b strings.Builder
	gap := false
	for _, r := range status {
		switch {
		case r == '\'' || r == '’':
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if gap && b.Len() > 0 {
				b.WriteRune(sep)
			}
			gap = false
			b.WriteRune(r)
		default:
			gap = true
		}
	}
	return b.String()
}

func (s *Stack) startCCSim(shape *mapping.Config) error {
	for _, k := range []string{"CC_FEEDBACK_LISTENER_URL", "CC_USER_DATA_LISTENER_URL"} {
		if s.hasEnv(k) {
			return nil // a real Centercode is configured
		}
	}
	cfg := CentercodeSimConfig(shape)
	cfg.Users = append(cfg.Users, s.ahaPeople()...)
	ccToken, _ := s.lookup("AHACC_CENTERCODE_WEBHOOK_TOKEN")
	cfg.Macros = CentercodeSimMacros(shape, s.HTTPURL, firstToken(ccToken))
	cfg.Addr = s.opts.CCSimAddr
	cfg.Logger = s.opts.Logger
	if s.opts.CCSim != nil {
		s.opts.CCSim(&cfg)
	}
	sim, err := ccsim.New(cfg)
	if err != nil {
		return fmt.Errorf("the Centercode simulator config: %w", err)
	}
	if err := sim.Start(); err != nil {
		return fmt.Errorf("start Centercode simulator: %w", err)
	}
	s.CCSim = sim
	s.stops = append(s.stops, func() { _ = sim.Close() })
	project := ccProject(shape)
	for _, name := range shape.FeedbackTypeNames() {
		s.Vars[ccSourceVar(name)] = sim.SourceURL(project, name)
	}
	s.Vars["CC_PROJECT_KEY"] = project
	s.Vars["CC_FEEDBACK_LISTENER_URL"] = sim.ListenerURL(listenerFeedbackData)
	s.Vars["CC_COMMENT_LISTENER_URL"] = sim.ListenerURL(listenerFeedbackComment)
	for status := range shape.Centercode.StatusListeners {
		s.Vars[CCStatusVar(status)] = sim.ListenerURL(statusListenerKey(status))
	}
	s.Vars["CC_USER_DATA_LISTENER_URL"] = sim.ListenerURL(listenerUserData)
	s.Vars["CC_LOOKUP_URL"] = sim.FeedbackURL(project)
	s.Vars["CC_DEFAULT_SUBMITTER"] = ccsim.DefaultConfig().Users[0].Email
	return nil
}

// ahaPeople lists the Aha! simulator's idea users as Centercode testers, so
// user data has someone to land on in the dev stack.
func (s *Stack) ahaPeople() []ccsim.User {
	if s.AhaSim == nil {
		return nil
	}
	c := aha.New(s.AhaSim.URL(), s.Vars["AHA_API_KEY"])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []ccsim.User
	for page := 1; page <= 50; page++ {
		users, p, err := c.ListIdeaUsers(ctx, page, 200, nil)
		if err != nil {
			s.opts.Logger.Warn("list Aha! simulator users", "error", err)
			return out
		}
		for _, u := range users {
			first, last, _ := strings.Cut(u.Name, " ")
			out = append(out, ccsim.User{Email: u.Email, FirstName: first, LastName: last})
		}
		if page >= p.TotalPages {
			break
		}
	}
	return out
}

// Stop stops everything in reverse order. Safe on a partly started stack.
func (s *Stack) Stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// Banner is the start-up text: every URL, the config in use, a sample event.
func (s *Stack) Banner() string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	token, _ := s.lookup("AHACC_AHA_WEBHOOK_TOKEN")
	ccToken, _ := s.lookup("AHACC_CENTERCODE_WEBHOOK_TOKEN")
	w("")
	w("ahacc dev stack is up (config %s, hash %s)", s.opts.ConfigPath, s.Config.ShortHash())
	w("")
	w("  Temporal frontend   %s   (namespace %s, task queue %s)", s.Temporal.Addr(), s.Temporal.Namespace(), s.Env.TaskQueue)
	if s.Temporal.UIURL() != "" {
		w("  Temporal Web UI     %s", s.Temporal.UIURL())
	}
	if s.opts.TemporalDB != "" {
		w("  Temporal data       PostgreSQL %s (+ _visibility)", redactURL(s.opts.TemporalDB))
	} else if s.opts.Ephemeral {
		w("  Temporal data       in memory (nothing kept)")
	} else {
		w("  Temporal data       %s", filepath.Join(s.opts.DataDir, "temporal.db"))
	}
	if s.Redis.Embedded {
		w("  Redis               %s   (in-process stand-in; set REDIS_URL to use a real one)", s.Redis.URL)
	} else {
		w("  Redis               %s", redactURL(s.Redis.URL))
	}
	w("  Starter (webhooks)  %s   health %s/healthz  ready %s/readyz", s.HTTPURL, s.HTTPURL, s.HTTPURL)
	if s.AhaSim != nil {
		w("  Aha! simulator      %s   (inspect %s/__sim/state)", s.AhaSim.URL(), s.AhaSim.URL())
	} else {
		w("  Aha!                %s   (real, from AHA_BASE_URL)", s.Config.Aha.BaseURL)
	}
	if s.CCSim != nil {
		w("  Centercode sim.     %s   (inspect %s/__sim/inspect?summary=1)", s.CCSim.URL(), s.CCSim.URL())
	} else {
		w("  Centercode          real, from the CC_* URLs")
	}
	w("")
	w("Webhook URLs to paste:")
	w("  Aha! activity webhook (Settings → Integrations → Activity webhook → Hook URL):")
	w("    %s/webhooks/aha/%s", s.HTTPURL, firstToken(token))
	w("  Centercode webhook macro (URL, header Authorization: Bearer %s):", firstToken(ccToken))
	w("    %s/webhooks/centercode/macros/<macro name>", s.HTTPURL)
	w("    %s/webhooks/centercode/status", s.HTTPURL)
	w("")
	w("Send a sample event:")
	w(`  curl -s -X POST %s/webhooks/aha/%s -H 'Content-Type: application/json' \`, s.HTTPURL, firstToken(token))
	w(`    -d '{"event":"audit","audit":{"id":"%d","audit_action":"update","auditable_type":"ideas/idea","auditable_id":"%s","user":null,"changes":[]}}'`,
		time.Now().UnixNano(), sampleIdeaID(s))
	if s.AhaSim != nil {
		w("  or change a record in the Aha! simulator: it posts the webhook itself:")
		w(`  curl -s -X PUT %s/api/v1/ideas/PRJ1-I-1 -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{"idea":{"name":"Renamed"}}'`,
			s.AhaSim.URL(), s.Vars["AHA_API_KEY"])
	}
	w("")
	w("Ctrl-C stops everything; Temporal history is kept in %s.", s.opts.DataDir)
	return b.String()
}

func sampleIdeaID(s *Stack) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if rec, err := app.NewAhaClient(s.Config, app.ClientOptions{}).GetIdea(ctx, "PRJ1-I-1"); err == nil {
		return rec.ID.String()
	}
	return "<aha idea id>"
}

func firstToken(list string) string {
	t, _, _ := strings.Cut(list, ",")
	return strings.TrimSpace(t)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "REDACTED@" + u[i+1:]
		}
	}
	return u
}

// CCStatusMacro is the Centercode simulator macro that reports every status
// change to ahacc's status webhook.
const CCStatusMacro = "ahacc-status"

// CentercodeSimMacros are the Centercode simulator's webhook macros pointed at
// the starter: one manual macro per config macro (POST
// /webhooks/centercode/macros/<name>) and CCStatusMacro, fired on every status
// change (POST /webhooks/centercode/status), all with the bearer token and the
// documented body template (ccsim.DefaultMacroBodyTemplate). Status rules run
// in ahacc (status_rules), so no config macro fires automatically in
// Centercode as well.
func CentercodeSimMacros(cfg *mapping.Config, starterURL, token string) []ccsim.Macro {
	names := make([]string, 0, len(cfg.Macros))
	for name := range cfg.Macros {
		names = append(names, name)
	}
	sort.Strings(names)
	headers := func() map[string]string { return map[string]string{"Authorization": "Bearer " + token} }
	out := make([]ccsim.Macro, 0, len(names)+1)
	for _, name := range names {
		out = append(out, ccsim.Macro{Name: name, URL: starterURL + "/webhooks/centercode/macros/" + name, Headers: headers()})
	}
	return append(out, ccsim.Macro{Name: CCStatusMacro, URL: starterURL + "/webhooks/centercode/status", Headers: headers(),
		Trigger: ccsim.TriggerStatusChange, StatusFilter: []string{ccsim.StatusAny}})
}

// Names of the listeners the dev stack defines in the Centercode simulator.
const (
	listenerUserData        = "user-data"
	listenerFeedbackData    = "feedback-data"
	listenerFeedbackComment = "feedback-comment"
)

// statusListenerKey is the key of the listener that sets status ("set-wont-fix").
func statusListenerKey(status string) string {
	return "set-" + strings.ToLower(statusSlug(status, '-'))
}

func ccProject(cfg *mapping.Config) string {
	for _, name := range cfg.FeedbackTypeNames() {
		if p := cfg.FeedbackType(name).Project; p != "" {
			return p
		}
	}
	return "BETA"
}

// CentercodeSimConfig builds a Centercode simulator whose external sources
// match the config's feedback types exactly (element names, kinds, options,
// required), with the user-data, feedback-data and feedback-comment
// listeners, one listener per centercode.status_listeners status whose macro
// sets it, the record lookup, and the demo testers (Start adds the Aha!
// simulator's idea users).
func CentercodeSimConfig(cfg *mapping.Config) ccsim.Config {
	base := ccsim.DefaultConfig()
	out := ccsim.Config{APIKeys: []string{randomToken()}, Users: base.Users}
	project := ccProject(cfg)
	statuses := []string{"New", "In Review", "Will Fix", "Fixed", "Closed", "Won't Fix"}
	var setters []ccsim.Listener
	for _, status := range slices.Sorted(maps.Keys(cfg.Centercode.StatusListeners)) {
		known := false
		for i, s := range statuses {
			if strings.EqualFold(s, status) {
				known, status = true, statuses[i]
			}
		}
		if !known {
			statuses = append(statuses, status)
		}
		setters = append(setters, ccsim.Listener{Key: statusListenerKey(status), Target: ccsim.TargetFeedback, Action: ccsim.ActionRunMacro, SetStatus: status})
	}
	for _, name := range cfg.FeedbackTypeNames() {
		ft := cfg.FeedbackType(name)
		src := ccsim.Source{ProjectKey: project, Key: name, FeedbackType: name, DefaultSubmitter: "pm@example.com",
			StartingStatus: "New", Statuses: statuses,
			ExternalReferenceElement: ft.ExternalReference}
		for _, el := range ft.ElementSpecs() {
			if el.Param == mapping.SubmitterParameter {
				continue // the source's submitter parameter, not a form element
			}
			kind := ccsim.ElementKind(el.Kind)
			if kind == "" {
				kind = ccsim.KindText
			}
			mk := func(name, path string) ccsim.Element {
				return ccsim.Element{Name: name, Kind: kind, Options: el.Options, Required: el.Required, Path: path, RatingMax: el.Scale}
			}
			switch {
			case el.FanOut:
				for i := 1; i <= el.Max; i++ {
					n := strings.Replace(el.Param, "{n}", fmt.Sprint(i), 1)
					e := mk(n, "")
					e.Required = el.Required && i == 1
					src.Elements = append(src.Elements, e)
				}
			case el.Index >= 0:
				src.Elements = append(src.Elements, mk(fmt.Sprintf("%s %d", el.Param, el.Index+1), fmt.Sprintf("$['%s'][%d]", el.Param, el.Index)))
			default:
				src.Elements = append(src.Elements, mk(el.Param, ""))
			}
		}
		out.Sources = append(out.Sources, src)
	}
	labels := map[string]string{}
	group := "Aha!"
	if cfg.UserData != nil {
		for k, v := range cfg.UserData.Labels {
			labels[k] = v
		}
		if cfg.UserData.DataGroup != "" {
			group = cfg.UserData.DataGroup
		}
	}
	out.Listeners = []ccsim.Listener{
		{Key: listenerUserData, Target: ccsim.TargetUser, Action: ccsim.ActionStoreData, DataGroup: group, Labels: labels},
		{Key: listenerFeedbackData, Target: ccsim.TargetFeedback, Action: ccsim.ActionStoreData, DataGroup: "Aha!"},
		{Key: listenerFeedbackComment, Target: ccsim.TargetFeedback, Action: ccsim.ActionComment},
	}
	out.Listeners = append(out.Listeners, setters...)
	sort.Slice(out.Sources, func(i, j int) bool { return out.Sources[i].Key < out.Sources[j].Key })
	return out
}
