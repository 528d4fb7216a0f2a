// Package mapping loads and validates the ahacc configuration and turns
// hydrated Aha! records into Centercode request bodies (and Centercode macro
// bodies into Aha! request bodies). It is pure Go: no Temporal, no HTTP.
//
// Everything is compiled at load time (JSONPaths, value maps, templates), so
// the Mapper values hanging off a Config are immutable and safe for
// concurrent use.
package mapping

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Record kinds: what an Aha! auditable_type means to the bridge.
const (
	KindIdea             = "idea"
	KindFeature          = "feature"
	KindEpic             = "epic"
	KindRequirement      = "requirement"
	KindIdeaComment      = "idea_comment"
	KindIdeaEndorsement  = "idea_endorsement"
	KindIdeaUser         = "idea_user"
	KindPortalUser       = "portal_user"
	KindIdeaOrganization = "idea_organization"
)

var knownKinds = []string{KindIdea, KindFeature, KindEpic, KindRequirement, KindIdeaComment,
	KindIdeaEndorsement, KindIdeaUser, KindPortalUser, KindIdeaOrganization}

// FeedbackKinds are the record kinds ahacc can read whole from Aha! (GET
// /api/v1/{ideas,features,epics,requirements}/{id}) and so map into feedback.
var FeedbackKinds = []string{KindIdea, KindFeature, KindEpic, KindRequirement}

// kindHint says where a kind that cannot feed feedback goes instead.
func kindHint(k string) string {
	switch k {
	case KindIdeaComment, KindIdeaEndorsement:
		return "comments and votes reach their idea's feedback on their own (the idea is read again)"
	case KindIdeaUser, KindPortalUser, KindIdeaOrganization:
		return "people and organizations feed user_data, not feedback"
	}
	return ""
}

// DefaultRecordTypes is aha.record_types when the config does not list any.
func DefaultRecordTypes() map[string]string {
	return map[string]string{
		"ideas/idea":              KindIdea,
		"feature":                 KindFeature,
		"ideas/idea_user":         KindIdeaUser,
		"ideas/portal_user":       KindPortalUser,
		"ideas/idea_organization": KindIdeaOrganization,
	}
}

// Secret is a configuration value that must never be printed or logged
// (API keys, and Centercode URLs, which carry apiKey=). Use Value to read it.
type Secret string

// Value returns the secret itself, for building requests only.
func (s Secret) Value() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret in %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalText redacts the secret in JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Config is a loaded, validated ahacc.yaml.
type Config struct {
	File          string
	Aha           Aha
	Centercode    Centercode
	Sync          Sync
	Worker        Worker
	Starter       Starter
	FeedbackTypes map[string]*FeedbackType
	UserData      *UserData // nil when the config has no user_data section
	Macros        map[string]*Macro
	StatusRules   StatusRules

	hash  string
	unset []string
	types []string // feedback type names, sorted
	order []string // feedback type names, in the file's order (routing by when:)
}

// Rate is a request budget.
type Rate struct {
	PerSecond int
	PerMinute int
}

// Aha is the aha: section.
type Aha struct {
	BaseURL string
	APIKey  Secret
	// Account names the shared rate budget (default: the host of BaseURL).
	Account string
	Rate    Rate
	// RecordTypes maps a webhook auditable_type to a record kind (Kind* constants).
	RecordTypes map[string]string
	// IntegrationID is the Aha! integration whose fields carry the Centercode link.
	IntegrationID string
	// IntegrationField is the integration field name stamped with the Centercode feedback id.
	IntegrationField string

	section, integrationNode *node // for checks made once macros are known
}

// Kind returns the record kind configured for an auditable_type.
func (a Aha) Kind(auditableType string) (string, bool) {
	k, ok := a.RecordTypes[auditableType]
	return k, ok
}

// Centercode is the centercode: section.
type Centercode struct {
	Rate Rate
	// FeedbackListenerURL is the feedback listener whose action stores custom
	// data: a linked record's later changes, the Aha! link a macro writes back
	// (and, without a comment listener, an on_destroy comment as a value). It
	// carries apiKey=.
	FeedbackListenerURL Secret
	// CommentListenerURL is a feedback listener whose action adds a comment
	// (on_destroy: comment); empty: the comment is stored as the value
	// "comment" through FeedbackListenerURL.
	CommentListenerURL Secret
	// StatusListeners maps a Centercode status (as written) to a feedback
	// listener whose action runs a macro that sets it: a Centercode listener
	// has one action, so each status ahacc sets (status_rules.from_aha,
	// on_destroy: status) needs its own.
	StatusListeners map[string]Secret
	Lookup          Lookup
}

// StatusListener is the listener that sets status (case-insensitive), or "".
func (c Centercode) StatusListener(status string) Secret {
	u, _ := c.statusListener(status)
	return u
}

// hasStatusListener reports whether status has a listener (in a lenient load,
// one whose URL is an unset variable counts).
func (c Centercode) hasStatusListener(status string) bool {
	_, ok := c.statusListener(status)
	return ok
}

func (c Centercode) statusListener(status string) (Secret, bool) {
	status = strings.TrimSpace(status)
	for name, u := range c.StatusListeners {
		if strings.EqualFold(strings.TrimSpace(name), status) {
			return u, true
		}
	}
	return "", false
}

// Lookup configures the record lookup used before re-creating feedback after
// an ambiguous create.
type Lookup struct {
	URL   Secret // full lookup URL (with apiKey=); empty disables the lookup
	Param string // query parameter carrying the external reference
}

// Defaults of sync.debounce, sync.retry_max_interval, sync.retry_for and
// sync.echo_window. DefaultDebounce is also what a workflow waits when its
// routes name no debounce.
const (
	DefaultDebounce         = 2 * time.Second
	DefaultRetryMaxInterval = 5 * time.Minute
	DefaultRetryFor         = 24 * time.Hour
	DefaultEchoWindow       = 10 * time.Minute
	// DefaultIdleClose is how long a record's workflow waits without an
	// event before it completes (sync.idle_close); the next event starts a
	// new run, which finds the record's links again.
	DefaultIdleClose = 30 * 24 * time.Hour
)

// Defaults of worker.max_activities, starter.webhook_rate_per_minute and
// starter.centercode_handoff_timeout.
const (
	DefaultMaxActivities            = 64
	DefaultWebhookRatePerMinute     = 6000
	DefaultCentercodeHandoffTimeout = 10 * time.Second
)

// Worker is the worker: section: knobs of the worker process, read when it
// starts. Its environment variable (AHACC_MAX_ACTIVITIES) overrides it.
type Worker struct {
	MaxActivities int // activities running at once per worker
}

// Starter is the starter: section: knobs of the webhook server, read when it
// starts. AHACC_WEBHOOK_RATE_PER_MINUTE and AHACC_CENTERCODE_HANDOFF_TIMEOUT
// override them; the starter caps the hand-off timeout (app.MaxHandoffTimeout).
type Starter struct {
	WebhookRatePerMinute     int // per source address; 0: no limit
	CentercodeHandoffTimeout time.Duration
}

// Sync is the sync: section.
type Sync struct {
	Debounce       time.Duration
	DedupTTL       time.Duration
	ReconcileEvery time.Duration
	// RetryMaxInterval is the longest wait between two tries of a failing
	// far-side call (they start 1 s apart and double), RetryFor how long a
	// call is retried before its record, person or macro run parks.
	RetryMaxInterval time.Duration
	RetryFor         time.Duration
	// EchoWindow is how long the Centercode webhook echoing a status ahacc
	// set is waited for; a person's change into that status after it is real.
	EchoWindow time.Duration
	// IdleClose is how long a record's workflow runs without an event
	// before it completes (its links kept in Redis for the next run).
	IdleClose time.Duration
}

// On-destroy behaviours of a feedback type.
const (
	OnDestroyComment = "comment"
	OnDestroyStatus  = "status"
	OnDestroyIgnore  = "ignore"
)

// FeedbackType is one Centercode feedback type fed by Aha! records; its
// embedded Mapper builds the external source request body.
type FeedbackType struct {
	*Mapper
	Name        string
	SourceURL   Secret   // external source endpoint (carries apiKey=)
	RecordTypes []string // record kinds that feed this type
	Project     string   // Centercode project key
	// ExternalReference names the element whose value identifies the Aha!
	// record on the Centercode side (Result.Reference).
	ExternalReference string
	OnDestroy         string // comment, status or ignore
	DestroyStatus     string // status to set when OnDestroy is status
	DestroyComment    string // comment text when OnDestroy is comment
	// When, if set, routes by content: of the feedback types a record kind
	// feeds, a record goes to the first (in the config's order) whose When
	// path yields a value from the hydrated record (see Config.RouteRecord).
	When *cpath
	// DefaultSubmitter is the Centercode user (email) a feedback is submitted
	// on behalf of when the record's own submitter is absent or unknown to
	// Centercode (sent as SubmitterParameter); empty: none.
	DefaultSubmitter string
}

// SubmitterParameter is the external source parameter naming the submitter
// by email (Centercode: "Submitter"; see docs/centercode.md).
const SubmitterParameter = "Submitter"

// UserData maps Aha! people records onto a Centercode external data listener.
type UserData struct {
	*Mapper
	ListenerURL   Secret
	DataGroup     string
	RecordTypes   []string
	OnUnknownUser string // skip (default) or park
	// Labels maps each key to the label shown in Centercode.
	Labels map[string]string
}

// UserKey is the listener body key naming the target user (Centercode
// assumption 4: a user listener identifies the user by email; the client's
// centercode.UserKey, which mapping, free of HTTP clients, does not import).
const UserKey = "email"

// Keys lists every key the user_data section can send, sorted; a fan-out key
// ("Org {n}") counts once per number up to its max.
func (u *UserData) Keys() []string {
	var out []string
	for _, el := range u.ElementSpecs() {
		switch {
		case el.Param == UserKey:
		case el.FanOut:
			for i := 1; i <= el.Max; i++ {
				out = append(out, strings.Replace(el.Param, "{n}", strconv.Itoa(i), 1))
			}
		default:
			out = append(out, el.Param)
		}
	}
	sort.Strings(out)
	return out
}

// ListenerBody is what the user-data listener is sent for a mapped person:
// every key, one without a value as "" so Centercode clears what Aha! no
// longer has, and the email (the mapping's, else fallback), lower-cased.
// keys and cleared count the keys with and without a value.
func (u *UserData) ListenerBody(res *Result, fallback string) (body map[string]any, email string, keys, cleared int) {
	body = make(map[string]any, len(res.Body)+4)
	for _, k := range u.Keys() {
		v, ok := res.Body[k]
		if !ok || v == nil {
			body[k] = ""
			cleared++
			continue
		}
		body[k] = v
		keys++
	}
	email = strings.ToLower(strings.TrimSpace(res.Reference))
	if email == "" {
		email = strings.ToLower(strings.TrimSpace(fallback))
	}
	body[UserKey] = email
	return body, email, keys, cleared
}

// Accepts reports whether records of this kind feed user data.
func (u *UserData) Accepts(kind string) bool {
	return u != nil && contains(u.RecordTypes, kind)
}

// Macro actions.
const (
	ActionCreateIdea          = "create_idea"
	ActionCreateFeature       = "create_feature"
	ActionComment             = "comment"
	ActionSetStatus           = "set_status"
	ActionSetIntegrationField = "set_integration_field"
)

// Macro is a Centercode webhook macro; its Mapper turns the macro body into
// the Aha! request body (unwrapped: the client wraps it in Resource()).
type Macro struct {
	*Mapper
	Name    string
	Action  string
	Product string // create_idea: product (workspace) id or reference prefix
	Release string // create_feature: release id or reference number
	// Require lists top-level macro body fields that must be present.
	Require []string
	// OnLinked (create_idea, create_feature) is what a run does when the
	// feedback is already linked to an Aha! record (an earlier run created
	// it): OnLinkedUpdate writes the mapped fields to that record, OnLinkedSkip
	// leaves it alone. Either way no second record is created.
	OnLinked string
}

// What a create macro does for a feedback already linked to an Aha! record.
const (
	OnLinkedUpdate = "update"
	OnLinkedSkip   = "skip"
)

// Creates reports whether the macro creates an Aha! record (create_idea,
// create_feature): its runs for one feedback go one at a time.
func (m *Macro) Creates() bool {
	return m.Action == ActionCreateIdea || m.Action == ActionCreateFeature
}

// Resource is the wrapper key of the Aha! request body for this action
// ("idea", "feature", "comment"); empty when the body is sent unwrapped.
func (m *Macro) Resource() string {
	switch m.Action {
	case ActionCreateIdea:
		return "idea"
	case ActionCreateFeature:
		return "feature"
	case ActionComment:
		return "comment"
	}
	return ""
}

// StatusRules is the status_rules: section.
type StatusRules struct {
	onStatus map[string][]RuleAction // lower-cased Centercode status
	fromAha  map[string]string       // lower-cased Aha! status
	// as written in the config, in its order
	onStatusNames, fromAhaNames []string
}

// OnStatuses lists the Centercode statuses that run macros, as written.
func (r StatusRules) OnStatuses() []string { return append([]string(nil), r.onStatusNames...) }

// FromAhaStatuses lists the Aha! statuses mapped to Centercode ones, as written.
func (r StatusRules) FromAhaStatuses() []string { return append([]string(nil), r.fromAhaNames...) }

// RuleAction is one macro to run when feedback enters a status.
type RuleAction struct {
	Macro string
	// EveryTime runs the macro on every entry into the status; false runs it
	// only on the first transition into it.
	EveryTime bool
}

// MacrosFor returns the macros to run when feedback enters status (case-insensitive).
func (r StatusRules) MacrosFor(status string) []RuleAction {
	return r.onStatus[strings.ToLower(strings.TrimSpace(status))]
}

// CentercodeStatusFor maps an Aha! workflow status to a Centercode status.
func (r StatusRules) CentercodeStatusFor(ahaStatus string) (string, bool) {
	s, ok := r.fromAha[strings.ToLower(strings.TrimSpace(ahaStatus))]
	return s, ok
}

// Hash is the sha256 (hex) of the config as written, with ${VAR} references
// left unexpanded, so it neither leaks nor depends on secrets. Comments and
// layout do not change it.
func (c *Config) Hash() string { return c.hash }

// ShortHash is the first 12 hex digits of Hash, for logs and search attributes.
func (c *Config) ShortHash() string { return c.hash[:12] }

// UnsetEnv lists ${VAR}s that were unset in a lenient load (AllowUnsetEnv).
func (c *Config) UnsetEnv() []string { return c.unset }

// FeedbackType returns the feedback type by name, or nil.
func (c *Config) FeedbackType(name string) *FeedbackType { return c.FeedbackTypes[name] }

// FeedbackTypeNames returns the configured feedback type names, sorted.
func (c *Config) FeedbackTypeNames() []string { return c.types }

// FeedbackTypesFor returns the feedback types fed by records of this kind, sorted by name.
func (c *Config) FeedbackTypesFor(kind string) []*FeedbackType {
	var out []*FeedbackType
	for _, n := range c.types {
		if ft := c.FeedbackTypes[n]; contains(ft.RecordTypes, kind) {
			out = append(out, ft)
		}
	}
	return out
}

// Macro returns the macro by name, or nil.
func (c *Config) Macro(name string) *Macro { return c.Macros[name] }

// LoadOptions adjusts Load.
type LoadOptions struct {
	// LookupEnv resolves ${VAR}; default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// AllowUnsetEnv expands unset variables to "" instead of failing, and
	// skips the checks that need them (for dry runs without secrets).
	AllowUnsetEnv bool
}

// LoadFile reads and loads a config file.
func LoadFile(path string) (*Config, error) {
	return LoadFileWithOptions(path, LoadOptions{})
}

// LoadFileWithOptions reads and loads a config file with options.
func LoadFileWithOptions(path string, opts LoadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return LoadWithOptions(path, data, opts)
}

// Load parses and validates a config; name is used in error messages.
// A *ConfigError lists every problem found.
func Load(name string, data []byte) (*Config, error) {
	return LoadWithOptions(name, data, LoadOptions{})
}

// LoadWithOptions is Load with options.
func LoadWithOptions(name string, data []byte, opts LoadOptions) (*Config, error) {
	env := opts.LookupEnv
	if env == nil {
		env = os.LookupEnv
	}
	d := &decoder{file: name}
	root, unset := parseYAML(d, data, env, opts.AllowUnsetEnv)
	if root == nil {
		return nil, d.err()
	}
	c := &Config{File: name, unset: unset, hash: hashNode(root)}
	top := d.object(root, "", "aha", "centercode", "sync", "worker", "starter", "feedback_types", "user_data", "macros", "status_rules")
	if root.kind == nNull {
		d.errf(root, "", "config is empty")
	}
	c.Aha = loadAha(top.d, top.get("aha"), "aha", top)
	c.Centercode = loadCentercode(d, top.get("centercode"), "centercode")
	c.Sync = loadSync(d, top.get("sync"), "sync")
	c.Worker = loadWorker(d, top.get("worker"), "worker")
	c.Starter = loadStarter(d, top.get("starter"), "starter")
	c.FeedbackTypes = map[string]*FeedbackType{}
	ftf := d.object(top.get("feedback_types"), "feedback_types")
	keys, vals := ftf.entries()
	for i, k := range keys {
		if _, dup := c.FeedbackTypes[k.val]; dup {
			continue
		}
		ft := loadFeedbackType(d, k.val, vals[i], join("feedback_types", k.val), c)
		c.FeedbackTypes[k.val] = ft
		c.types = append(c.types, k.val)
		c.order = append(c.order, k.val)
	}
	sort.Strings(c.types)
	if len(keys) == 0 && top.get("user_data") == nil {
		d.errf(root, "feedback_types", "at least one feedback type (or user_data) is required")
	}
	if n := top.get("user_data"); n != nil {
		c.UserData = loadUserData(d, n, "user_data", c)
	}
	c.Macros = map[string]*Macro{}
	mf := d.object(top.get("macros"), "macros")
	keys, vals = mf.entries()
	for i, k := range keys {
		if _, dup := c.Macros[k.val]; dup {
			continue
		}
		c.Macros[k.val] = loadMacro(d, k.val, vals[i], join("macros", k.val))
	}
	c.StatusRules = loadStatusRules(d, top.get("status_rules"), "status_rules", c)
	checkIntegration(d, c)
	checkRoutes(d, ftf, c)
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func loadAha(d *decoder, n *node, path string, parent *fields) Aha {
	f := d.object(n, path, "base_url", "api_key", "account", "rate", "record_types", "integration_id", "integration_field")
	if n == nil {
		d.errf(parent.n, path, "section is required (base_url, api_key)")
	}
	a := Aha{
		BaseURL:          strings.TrimRight(f.requiredStr("base_url", " (e.g. ${AHA_BASE_URL})"), "/"),
		APIKey:           Secret(f.requiredStr("api_key", " (use ${AHA_API_KEY}; never write the key itself)")),
		Account:          f.str("account"),
		Rate:             loadRate(d, f.get("rate"), f.at("rate"), Rate{PerSecond: 20, PerMinute: 300}),
		IntegrationID:    f.str("integration_id"),
		IntegrationField: f.str("integration_field"),
		section:          n,
		integrationNode:  f.get("integration_id"),
	}
	checkURL(d, f.get("base_url"), f.at("base_url"), a.BaseURL, false)
	if a.Account == "" {
		if u, err := url.Parse(a.BaseURL); err == nil {
			a.Account = u.Hostname()
		}
	}
	if a.IntegrationField == "" {
		a.IntegrationField = "centercode_feedback_id"
	}
	rt := f.get("record_types")
	if rt == nil {
		a.RecordTypes = DefaultRecordTypes()
		return a
	}
	a.RecordTypes = map[string]string{}
	rf := d.object(rt, f.at("record_types"))
	keys, vals := rf.entries()
	for i, k := range keys {
		kind := vals[i].val
		if vals[i].kind != nScalar || !contains(knownKinds, kind) {
			d.errf(vals[i], rf.at(k.val), "unknown record kind %q (one of %s)", kind, strings.Join(knownKinds, ", "))
			continue
		}
		a.RecordTypes[k.val] = kind
	}
	return a
}

func loadRate(d *decoder, n *node, path string, def Rate) Rate {
	f := d.object(n, path, "per_second", "per_minute")
	return Rate{
		PerSecond: f.integer("per_second", def.PerSecond, 1, 100000),
		PerMinute: f.integer("per_minute", def.PerMinute, 1, 6000000),
	}
}

func loadCentercode(d *decoder, n *node, path string) Centercode {
	f := d.object(n, path, "rate", "feedback_listener_url", "comment_listener_url", "status_listeners", "lookup")
	c := Centercode{
		Rate:                loadRate(d, f.get("rate"), f.at("rate"), Rate{PerSecond: 10, PerMinute: 600}),
		FeedbackListenerURL: Secret(f.str("feedback_listener_url")),
		CommentListenerURL:  Secret(f.str("comment_listener_url")),
		StatusListeners:     map[string]Secret{},
	}
	checkURL(d, f.get("feedback_listener_url"), f.at("feedback_listener_url"), c.FeedbackListenerURL.Value(), true)
	checkURL(d, f.get("comment_listener_url"), f.at("comment_listener_url"), c.CommentListenerURL.Value(), true)
	sf := d.object(f.get("status_listeners"), f.at("status_listeners"))
	keys, vals := sf.entries()
	seen := map[string]bool{}
	for i, k := range keys {
		p := sf.at(k.val)
		if vals[i].kind != nScalar {
			d.errf(vals[i], p, "must be the URL of a feedback listener whose macro sets this status")
			continue
		}
		if vals[i].val == "" && len(vals[i].unset) == 0 {
			continue // none (e.g. ${VAR:-} unset): a status that needs it says so
		}
		lk := strings.ToLower(strings.TrimSpace(k.val))
		if seen[lk] {
			d.errf(k, p, "status listed twice (statuses match case-insensitively)")
			continue
		}
		seen[lk] = true
		c.StatusListeners[strings.TrimSpace(k.val)] = Secret(vals[i].val)
		checkURL(d, vals[i], p, vals[i].val, true)
	}
	lf := d.object(f.get("lookup"), f.at("lookup"), "url", "param")
	c.Lookup = Lookup{URL: Secret(lf.str("url")), Param: lf.str("param")}
	checkURL(d, lf.get("url"), lf.at("url"), c.Lookup.URL.Value(), true)
	if c.Lookup.Param == "" {
		c.Lookup.Param = "externalReference"
	}
	return c
}

// checkURL validates an absolute http(s) URL without echoing it (it may
// carry an apiKey).
// checkIntegration requires aha.integration_id when a macro creates ideas or
// features: ahacc stamps each with the feedback id in a field of that
// integration, and Aha! refuses an integration it does not have.
func checkIntegration(d *decoder, c *Config) {
	n := c.Aha.integrationNode
	if c.Aha.IntegrationID != "" || c.Aha.section == nil || (n != nil && len(n.unset) > 0) {
		return // set, no aha section (reported), or a dry run without the environment
	}
	for _, name := range sortedKeys(c.Macros) {
		if c.Macros[name].Creates() {
			d.errf(orNode(n, c.Aha.section), "aha.integration_id", "is required: macro %q creates Aha! records and ahacc stamps each with "+
				"its feedback id in a field of this integration — in Aha!, Settings → Workspace → Integrations → add a REST API integration "+
				"(one per workspace a macro writes to) and copy the number in its URL (use ${AHA_INTEGRATION_ID})", name)
			return
		}
	}
}

func checkURL(d *decoder, n *node, path, v string, secret bool) {
	if v == "" || n == nil {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if secret {
			d.errf(n, path, "must be an absolute http(s) URL (value not shown: it may contain a key)")
		} else {
			d.errf(n, path, "must be an absolute http(s) URL, not %q", v)
		}
	}
}

func loadSync(d *decoder, n *node, path string) Sync {
	f := d.object(n, path, "debounce", "dedup_ttl", "reconcile_every", "retry_max_interval", "retry_for", "echo_window", "idle_close")
	s := Sync{
		Debounce:         f.duration("debounce", DefaultDebounce, 0),
		DedupTTL:         f.duration("dedup_ttl", 168*time.Hour, time.Minute),
		ReconcileEvery:   f.duration("reconcile_every", 5*time.Minute, 10*time.Second),
		RetryMaxInterval: f.duration("retry_max_interval", DefaultRetryMaxInterval, time.Second),
		RetryFor:         f.duration("retry_for", DefaultRetryFor, time.Minute),
		EchoWindow:       f.duration("echo_window", DefaultEchoWindow, 10*time.Second),
		IdleClose:        f.duration("idle_close", DefaultIdleClose, time.Second),
	}
	if s.RetryFor < s.RetryMaxInterval {
		if v := f.get("retry_for"); v != nil {
			d.errf(v, f.at("retry_for"), "must be at least retry_max_interval (%s)", s.RetryMaxInterval)
		} else {
			d.errf(f.get("retry_max_interval"), f.at("retry_max_interval"), "must be at most retry_for (%s)", s.RetryFor)
		}
	}
	return s
}

func loadWorker(d *decoder, n *node, path string) Worker {
	f := d.object(n, path, "max_activities")
	return Worker{MaxActivities: f.integer("max_activities", DefaultMaxActivities, 1, 100000)}
}

func loadStarter(d *decoder, n *node, path string) Starter {
	f := d.object(n, path, "webhook_rate_per_minute", "centercode_handoff_timeout")
	return Starter{
		WebhookRatePerMinute:     f.integer("webhook_rate_per_minute", DefaultWebhookRatePerMinute, 0, 6000000),
		CentercodeHandoffTimeout: f.duration("centercode_handoff_timeout", DefaultCentercodeHandoffTimeout, time.Millisecond),
	}
}

func loadFeedbackType(d *decoder, name string, n *node, path string, c *Config) *FeedbackType {
	f := d.object(n, path, "source_url", "record_types", "project", "external_reference",
		"on_destroy", "destroy_status", "destroy_comment", "default_submitter", "when", "elements")
	ft := &FeedbackType{
		Name:              name,
		SourceURL:         Secret(f.requiredStr("source_url", " (the external source URL Centercode shows; use ${CC_..._SOURCE_URL})")),
		RecordTypes:       f.strList("record_types"),
		Project:           f.str("project"),
		ExternalReference: f.str("external_reference"),
		OnDestroy:         f.str("on_destroy"),
		DestroyStatus:     f.str("destroy_status"),
		DestroyComment:    f.str("destroy_comment"),
		DefaultSubmitter:  strings.ToLower(strings.TrimSpace(f.str("default_submitter"))),
	}
	if w := f.str("when"); w != "" {
		p, err := compilePath(w)
		if err != nil {
			d.errf(f.get("when"), f.at("when"), "%v (a JSONPath into the record, e.g. $.categories[?(@.name == 'Bug')])", err)
		}
		ft.When = p
	}
	checkURL(d, f.get("source_url"), f.at("source_url"), ft.SourceURL.Value(), true)
	if len(ft.RecordTypes) == 0 {
		d.errf(orNode(f.get("record_types"), n), f.at("record_types"), "list the record kinds that feed this type (e.g. [idea])")
	}
	for i, k := range ft.RecordTypes {
		at := fmt.Sprintf("%s[%d]", f.at("record_types"), i)
		switch {
		case !contains(FeedbackKinds, k) && contains(knownKinds, k):
			// Such audits are no record to read: they would retry for ever.
			d.errf(orNode(f.get("record_types"), n), at, "%q cannot feed a feedback type (one of %s): %s",
				k, strings.Join(FeedbackKinds, ", "), kindHint(k))
		case !kindConfigured(c, k):
			d.errf(orNode(f.get("record_types"), n), at,
				"record kind %q is not in aha.record_types (%s)", k, strings.Join(configuredKinds(c), ", "))
		}
	}
	switch ft.OnDestroy {
	case "":
		ft.OnDestroy = OnDestroyIgnore
	case OnDestroyComment:
		if ft.DestroyComment == "" {
			ft.DestroyComment = "The linked Aha! record was deleted."
		}
	case OnDestroyStatus:
		if ft.DestroyStatus == "" {
			d.errf(f.get("on_destroy"), f.at("destroy_status"), "is required when on_destroy is status")
		} else if !c.Centercode.hasStatusListener(ft.DestroyStatus) {
			d.errf(f.get("destroy_status"), f.at("destroy_status"), "Centercode status %q has no listener in centercode.status_listeners (a listener whose macro sets it)", ft.DestroyStatus)
		}
	case OnDestroyIgnore:
	default:
		d.errf(f.get("on_destroy"), f.at("on_destroy"), "must be comment, status or ignore, not %q", ft.OnDestroy)
	}
	ft.Mapper = compileMapper(d, f.get("elements"), f.at("elements"), fmt.Sprintf("feedback type %q", name), targetFlat)
	if len(ft.Mapper.elements) == 0 {
		d.errf(orNode(f.get("elements"), n), f.at("elements"), "list at least one element (Centercode parameter name → path)")
	}
	if ft.ExternalReference != "" && !ft.Mapper.has(ft.ExternalReference) {
		d.errf(f.get("external_reference"), f.at("external_reference"), "names no element (%q is not under elements)", ft.ExternalReference)
	}
	ft.Mapper.refElement = ft.ExternalReference
	return ft
}

func orNode(n, alt *node) *node {
	if n != nil {
		return n
	}
	return alt
}

func kindConfigured(c *Config, kind string) bool {
	for _, k := range c.Aha.RecordTypes {
		if k == kind {
			return true
		}
	}
	return false
}

func configuredKinds(c *Config) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range c.Aha.RecordTypes {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func loadUserData(d *decoder, n *node, path string, c *Config) *UserData {
	f := d.object(n, path, "listener_url", "data_group", "record_types", "on_unknown_user", "email", "keys")
	u := &UserData{
		ListenerURL:   Secret(f.requiredStr("listener_url", " (use ${CC_USER_DATA_LISTENER_URL})")),
		DataGroup:     f.requiredStr("data_group", " (the data group name shown in Centercode)"),
		RecordTypes:   f.strList("record_types"),
		OnUnknownUser: f.str("on_unknown_user"),
		Labels:        map[string]string{},
	}
	checkURL(d, f.get("listener_url"), f.at("listener_url"), u.ListenerURL.Value(), true)
	if u.RecordTypes == nil {
		u.RecordTypes = []string{KindIdeaUser, KindPortalUser}
	}
	for i, k := range u.RecordTypes {
		if !kindConfigured(c, k) {
			d.errf(f.get("record_types"), fmt.Sprintf("%s[%d]", f.at("record_types"), i), "record kind %q is not in aha.record_types", k)
		}
	}
	switch u.OnUnknownUser {
	case "":
		u.OnUnknownUser = "skip"
	case "skip", "park":
	default:
		d.errf(f.get("on_unknown_user"), f.at("on_unknown_user"), "must be skip or park, not %q", u.OnUnknownUser)
	}
	// The user is identified by email: an implicit, required "email" element.
	emailPaths := f.strList("email")
	if emailPaths == nil {
		emailPaths = []string{"$.email"}
	}
	keys := f.get("keys")
	if keys == nil {
		d.errf(n, f.at("keys"), "list at least one key")
	}
	kf := d.object(keys, f.at("keys"))
	ks, vs := kf.entries()
	for i, k := range ks {
		lf := d.object(vs[i], kf.at(k.val))
		if lf.n != nil {
			u.Labels[k.val] = lf.str("label")
		}
		if k.val == "email" {
			d.errf(k, kf.at("email"), `"email" is reserved: it identifies the Centercode user (set user_data.email to change its path)`)
		}
	}
	u.Mapper = compileMapper(d, keys, f.at("keys"), "user data", targetFlat)
	u.Mapper.addImplicit(d, "email", emailPaths, KindEmailValue, orNode(f.get("email"), n), f.at("email"))
	u.Mapper.refElement = "email"
	return u
}

func loadMacro(d *decoder, name string, n *node, path string) *Macro {
	f := d.object(n, path, "action", "product", "release", "require", "feedback_id", "elements", "on_linked")
	m := &Macro{
		Name:     name,
		Action:   f.requiredStr("action", " (create_idea, create_feature, comment, set_status or set_integration_field)"),
		Product:  f.str("product"),
		Release:  f.str("release"),
		Require:  f.strList("require"),
		OnLinked: f.str("on_linked"),
	}
	creates := m.Action == ActionCreateIdea || m.Action == ActionCreateFeature
	switch {
	case m.OnLinked == "" && creates:
		m.OnLinked = OnLinkedUpdate
	case m.OnLinked != "" && !creates:
		d.errf(f.get("on_linked"), f.at("on_linked"), "only applies to create_idea and create_feature")
	case m.OnLinked != "" && m.OnLinked != OnLinkedUpdate && m.OnLinked != OnLinkedSkip:
		d.errf(f.get("on_linked"), f.at("on_linked"), "must be update or skip")
	}
	ctx := fmt.Sprintf("macro %q", name)
	m.Mapper = compileMapper(d, f.get("elements"), f.at("elements"), ctx, targetNested)
	fid := f.strList("feedback_id")
	if fid == nil {
		fid = []string{"$.feedbackId"}
	}
	m.Mapper.addImplicit(d, "", fid, KindText, orNode(f.get("feedback_id"), n), f.at("feedback_id"))
	m.Mapper.require = m.Require
	needEl := func(el string) {
		if !m.Mapper.has(el) {
			d.errf(orNode(f.get("elements"), n), f.at("elements"), "action %s needs an element %q", m.Action, el)
		}
	}
	switch m.Action {
	case ActionCreateIdea:
		if m.Product == "" {
			d.errf(orNode(f.get("action"), n), f.at("product"), "is required for create_idea (product id or reference prefix, e.g. PRJ1)")
		}
		needEl("name")
	case ActionCreateFeature:
		if m.Release == "" {
			d.errf(orNode(f.get("action"), n), f.at("release"), "is required for create_feature (release id or reference, e.g. PRJ1-R-1)")
		}
		needEl("name")
	case ActionComment:
		needEl("body")
	case ActionSetStatus:
		needEl("workflow_status")
	case ActionSetIntegrationField:
		if len(m.Mapper.elements) == 0 {
			d.errf(orNode(f.get("elements"), n), f.at("elements"), "set_integration_field needs at least one element (field name → value)")
		}
	case "":
	default:
		d.errf(f.get("action"), f.at("action"), "unknown action %q (create_idea, create_feature, comment, set_status or set_integration_field)", m.Action)
	}
	if m.Action != ActionCreateIdea && m.Product != "" {
		d.errf(f.get("product"), f.at("product"), "only applies to create_idea")
	}
	if m.Action != ActionCreateFeature && m.Release != "" {
		d.errf(f.get("release"), f.at("release"), "only applies to create_feature")
	}
	return m
}

func loadStatusRules(d *decoder, n *node, path string, c *Config) StatusRules {
	f := d.object(n, path, "on_status", "from_aha")
	r := StatusRules{onStatus: map[string][]RuleAction{}, fromAha: map[string]string{}}
	of := d.object(f.get("on_status"), f.at("on_status"))
	keys, vals := of.entries()
	for i, k := range keys {
		p := of.at(k.val)
		lk := strings.ToLower(strings.TrimSpace(k.val))
		if _, dup := r.onStatus[lk]; dup {
			d.errf(k, p, "status listed twice (statuses match case-insensitively)")
			continue
		}
		var acts []RuleAction
		v := vals[i]
		items := []*node{v}
		if v.kind == nSeq {
			items = v.items
		}
		for j, it := range items {
			ip := p
			if v.kind == nSeq {
				ip = fmt.Sprintf("%s[%d]", p, j)
			}
			var a RuleAction
			switch it.kind {
			case nScalar:
				a.Macro = it.val
			case nMap:
				af := d.object(it, ip, "macro", "every_time")
				a.Macro = af.requiredStr("macro", "")
				a.EveryTime = af.boolean("every_time", false)
			default:
				d.errf(it, ip, "must be a macro name or {macro: name, every_time: bool}")
				continue
			}
			if a.Macro != "" && c.Macros[a.Macro] == nil {
				d.errf(it, ip, "unknown macro %q (defined: %s)", a.Macro, strings.Join(sortedKeys(c.Macros), ", "))
			}
			acts = append(acts, a)
		}
		r.onStatus[lk] = acts
		r.onStatusNames = append(r.onStatusNames, strings.TrimSpace(k.val))
	}
	af := d.object(f.get("from_aha"), f.at("from_aha"))
	keys, vals = af.entries()
	for i, k := range keys {
		if vals[i].kind != nScalar || vals[i].val == "" {
			d.errf(vals[i], af.at(k.val), "must be a Centercode status name")
			continue
		}
		lk := strings.ToLower(strings.TrimSpace(k.val))
		if _, dup := r.fromAha[lk]; dup {
			d.errf(k, af.at(k.val), "status listed twice (statuses match case-insensitively)")
			continue
		}
		r.fromAha[lk] = vals[i].val
		r.fromAhaNames = append(r.fromAhaNames, strings.TrimSpace(k.val))
		if !c.Centercode.hasStatusListener(vals[i].val) {
			d.errf(vals[i], af.at(k.val), "Centercode status %q has no listener in centercode.status_listeners (a listener whose macro sets it)", vals[i].val)
		}
	}
	return r
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
