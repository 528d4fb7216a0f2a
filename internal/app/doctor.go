package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/mapping"
)

// Check is one line of starter doctor's checklist.
type Check struct {
	Area   string // Aha!, Centercode, Temporal, Redis
	What   string
	OK     bool
	Detail string // what was found
	Fix    string // for a failed check: what to do, in words an admin can act on
}

// Doctor checks a configuration against the real services, reading only:
// nothing is created or changed on either side.
type Doctor struct {
	Config    *mapping.Config
	Env       Env
	Aha       *aha.Client
	Temporal  client.Client // nil: not reachable (reported)
	Redis     *redis.Client // nil: REDIS_URL unset (reported)
	DialTLS   func(ctx context.Context, addr, serverName string) error
	DialPlain func(ctx context.Context, addr string) error
}

// Run performs every check in order and returns the checklist.
func (d *Doctor) Run(ctx context.Context) []Check {
	var out []Check
	out = append(out, d.aha(ctx)...)
	out = append(out, d.centercode(ctx)...)
	out = append(out, d.temporal(ctx)...)
	out = append(out, d.redis(ctx)...)
	return out
}

// PrintChecks writes the checklist and returns how many failed.
func PrintChecks(w io.Writer, checks []Check) int {
	failed, area := 0, ""
	for _, c := range checks {
		if c.Area != area {
			area = c.Area
			fmt.Fprintf(w, "\n%s\n", area)
		}
		mark := "✓"
		if !c.OK {
			mark, failed = "✗", failed+1
		}
		line := "  " + mark + " " + c.What
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		fmt.Fprintln(w, line)
		if !c.OK && c.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", c.Fix)
		}
	}
	if failed == 0 {
		fmt.Fprintf(w, "\nall %d checks passed\n", len(checks))
	} else {
		fmt.Fprintf(w, "\n%d of %d checks failed: fix them and run starter doctor again\n", failed, len(checks))
	}
	return failed
}

// kindFieldable is Aha!'s custom_fieldable_type of a record kind.
var kindFieldable = map[string]string{
	mapping.KindIdea: "Ideas::Idea", mapping.KindFeature: "Feature", mapping.KindEpic: "Epic",
	mapping.KindRequirement: "Requirement", mapping.KindIdeaUser: "Ideas::IdeaUser",
}

func (d *Doctor) aha(ctx context.Context) []Check {
	const area = "Aha!"
	cfg := d.Config
	var out []Check
	me, err := d.Aha.GetMe(ctx)
	if err != nil {
		return append(out, Check{Area: area, What: "API key of " + cfg.Aha.BaseURL, Detail: short(err), Fix: ahaFix(err)})
	}
	out = append(out, Check{Area: area, What: "API key", OK: true, Detail: fmt.Sprintf("%s <%s>", me.Name, me.Email)})

	for _, ws := range cfg.MacroWorkspaces() {
		p, err := d.Aha.GetProduct(ctx, ws)
		if err != nil {
			out = append(out, Check{Area: area, What: "workspace " + ws + " (a macro creates records there)", Detail: short(err),
				Fix: fmt.Sprintf("no workspace %q is visible to this key: set the macro's product (or release) to a workspace prefix the service user can see (%s)", ws, ahaFix(err))})
			continue
		}
		out = append(out, Check{Area: area, What: "workspace " + ws, OK: true, Detail: p.Name})
		ints, err := d.Aha.ListIntegrations(ctx, ws)
		if err != nil {
			out = append(out, Check{Area: area, What: "integrations of " + ws, Detail: short(err), Fix: ahaFix(err)})
			continue
		}
		var names []string
		found := false
		for _, in := range ints {
			names = append(names, fmt.Sprintf("%s %s", in.Name, in.ID))
			found = found || in.ID.String() == cfg.Aha.IntegrationID
		}
		c := Check{Area: area, What: fmt.Sprintf("integration %q in %s (aha.integration_id)", cfg.Aha.IntegrationID, ws), OK: found}
		if !found {
			c.Detail = "not an integration of this workspace (it has: " + strings.Join(names, ", ") + ")"
			c.Fix = fmt.Sprintf("in Aha!, %s → Settings → Workspace → Integrations → add a REST API integration (or pick one above) and set AHA_INTEGRATION_ID to the number in its URL", ws)
		}
		out = append(out, c)
		out = append(out, d.statuses(ctx, ws)...)
	}

	if fields := cfg.AhaCustomFields(); len(fields) > 0 {
		defs, err := d.Aha.ListCustomFieldDefinitions(ctx)
		if err != nil {
			out = append(out, Check{Area: area, What: "custom field definitions", Detail: short(err), Fix: ahaFix(err)})
		} else {
			have := map[string]bool{}
			for _, df := range defs {
				have[df.Fieldable+"/"+df.Key] = true
			}
			for _, f := range fields {
				fieldable := kindFieldable[f.Kind]
				c := Check{Area: area, What: fmt.Sprintf("custom field %q on %ss", f.Key, f.Kind), OK: have[fieldable+"/"+f.Key], Detail: "read or written by " + f.Where}
				if !c.OK {
					c.Fix = fmt.Sprintf("in Aha!, Settings → Account → Custom fields → %s: add a field whose key is %q (or change %s)", fieldable, f.Key, f.Where)
				}
				out = append(out, c)
			}
		}
	}

	if cfg.UserData != nil && cfg.UserData.Accepts(mapping.KindPortalUser) {
		portals, err := d.Aha.ListIdeaPortals(ctx)
		c := Check{Area: area, What: "idea portals can be listed (portal users)", OK: err == nil}
		if err != nil {
			c.Detail, c.Fix = short(err), "give the service user access to the idea portals ("+ahaFix(err)+"), or drop portal_user from user_data.record_types"
		} else {
			c.Detail = fmt.Sprintf("%d portals", len(portals))
		}
		out = append(out, c)
	}
	return out
}

// statuses checks the workflow statuses the config names against the
// workspace's idea workflow.
func (d *Doctor) statuses(ctx context.Context, ws string) []Check {
	const area = "Aha!"
	names := d.Config.AhaStatuses()
	if len(names) == 0 {
		return nil
	}
	wfs, err := d.Aha.ListWorkflows(ctx, ws)
	if err != nil {
		return []Check{{Area: area, What: "workflows of " + ws, Detail: short(err), Fix: ahaFix(err)}}
	}
	have := map[string]bool{}
	var all []string
	for _, wf := range wfs {
		if wf.StatusableType != "Idea" {
			continue
		}
		for _, st := range wf.Statuses {
			have[strings.ToLower(st.Name)] = true
			all = append(all, st.Name)
		}
	}
	var out []Check
	for _, n := range names {
		c := Check{Area: area, What: fmt.Sprintf("idea status %q in %s", n, ws), OK: have[strings.ToLower(n)]}
		if !c.OK {
			c.Detail = "the idea workflow has: " + strings.Join(all, ", ")
			c.Fix = fmt.Sprintf("change %q in status_rules.from_aha or status-to-aha's map and options to one of those, or add it to %s's idea workflow", n, ws)
		}
		out = append(out, c)
	}
	return out
}

// ahaFix says what an Aha! error asks for.
func ahaFix(err error) string {
	var ae *aha.Error
	switch {
	case errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403):
		return "the key is refused: create an API key for the service user (Aha!: your profile → Developer → API keys) and set AHA_API_KEY"
	case errors.As(err, &ae) && ae.Status == 404:
		return "Aha! has no such record for this key"
	case errors.As(err, &ae):
		return fmt.Sprintf("Aha! answered %d; try again later", ae.Status)
	}
	return "AHA_BASE_URL does not answer: set it to https://<company>.aha.io and check the network"
}

// centercode checks every Centercode URL of the config: it parses, carries
// an apiKey, and its host answers (TLS for https). Nothing is requested.
func (d *Doctor) centercode(ctx context.Context) []Check {
	const area = "Centercode"
	type u struct{ where, variable, value string }
	cfg := d.Config
	var urls []u
	for _, n := range cfg.FeedbackTypeNames() {
		urls = append(urls, u{"feedback_types." + n + ".source_url", "", cfg.FeedbackType(n).SourceURL.Value()})
	}
	urls = append(urls, u{"centercode.feedback_listener_url", "CC_FEEDBACK_LISTENER_URL", cfg.Centercode.FeedbackListenerURL.Value()})
	for _, st := range slices.Sorted(maps.Keys(cfg.Centercode.StatusListeners)) {
		urls = append(urls, u{"centercode.status_listeners." + st, "", cfg.Centercode.StatusListeners[st].Value()})
	}
	if v := cfg.Centercode.CommentListenerURL.Value(); v != "" {
		urls = append(urls, u{"centercode.comment_listener_url", "CC_COMMENT_LISTENER_URL", v})
	}
	if v := cfg.Centercode.Lookup.URL.Value(); v != "" {
		urls = append(urls, u{"centercode.lookup.url", "CC_LOOKUP_URL", v})
	}
	if cfg.UserData != nil {
		urls = append(urls, u{"user_data.listener_url", "CC_USER_DATA_LISTENER_URL", cfg.UserData.ListenerURL.Value()})
	}
	var out []Check
	for _, x := range urls {
		c := Check{Area: area, What: x.where}
		pu, err := url.Parse(x.value)
		switch {
		case x.value == "":
			c.Detail, c.Fix = "empty", "paste the URL Centercode shows for it"
		case err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http"):
			c.Detail, c.Fix = "not a URL", "paste the whole URL Centercode shows, https://… with ?apiKey=…"
		case pu.Query().Get("apiKey") == "":
			c.Detail, c.Fix = centercode.RedactURL(x.value)+" has no apiKey", "use the URL as Centercode shows it: it ends with ?apiKey=<key> (Centercode: community API keys)"
		default:
			c.OK, c.Detail = true, centercode.RedactURL(x.value)
			if err := d.reach(ctx, pu); err != nil {
				c.OK, c.Detail = false, c.Detail+": "+short(err)
				c.Fix = "the host does not answer" + map[bool]string{true: " TLS", false: ""}[pu.Scheme == "https"] + ": check the URL's host and the network"
			} else if pu.Scheme == "http" && !loopback(pu.Hostname()) {
				c.OK, c.Fix = false, "use the https:// URL: Centercode URLs carry the API key"
			}
		}
		out = append(out, c)
	}
	return out
}

func (d *Doctor) reach(ctx context.Context, u *url.URL) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	port := u.Port()
	if u.Scheme == "https" {
		if port == "" {
			port = "443"
		}
		return d.DialTLS(ctx, net.JoinHostPort(u.Hostname(), port), u.Hostname())
	}
	if port == "" {
		port = "80"
	}
	return d.DialPlain(ctx, net.JoinHostPort(u.Hostname(), port))
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// DialTLS completes a TLS handshake with addr (certificate verified).
func DialTLS(ctx context.Context, addr, serverName string) error {
	dl := &tls.Dialer{Config: &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}}
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// DialPlain opens (and closes) a TCP connection to addr.
func DialPlain(ctx context.Context, addr string) error {
	var dl net.Dialer
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

func (d *Doctor) temporal(ctx context.Context) []Check {
	const area = "Temporal"
	where := d.Env.TemporalAddress + " namespace " + d.Env.Namespace
	if d.Temporal == nil {
		return []Check{{Area: area, What: "frontend " + where, Detail: "not reachable",
			Fix: "set TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE, TLS or API key per the SDK's TEMPORAL_* variables) to your cluster's frontend"}}
	}
	if _, err := d.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return []Check{{Area: area, What: "frontend " + where, Detail: short(err), Fix: "start Temporal, or set TEMPORAL_ADDRESS to its frontend"}}
	}
	out := []Check{{Area: area, What: "frontend", OK: true, Detail: d.Env.TemporalAddress}}
	if _, err := d.Temporal.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: d.Env.Namespace}); err != nil {
		return append(out, Check{Area: area, What: "namespace " + d.Env.Namespace, Detail: short(err),
			Fix: "create it: temporal operator namespace create --namespace " + d.Env.Namespace + " (or set TEMPORAL_NAMESPACE)"})
	}
	out = append(out, Check{Area: area, What: "namespace " + d.Env.Namespace, OK: true})
	resp, err := d.Temporal.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: d.Env.Namespace})
	if err != nil {
		return append(out, Check{Area: area, What: "search attributes", Detail: short(err), Fix: "the key or role may not allow reading them; ask the cluster's admin"})
	}
	for _, name := range contract.SearchAttributeNames {
		_, ok := resp.GetCustomAttributes()[name]
		c := Check{Area: area, What: "search attribute " + name, OK: ok}
		if !ok {
			c.Fix = fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type Keyword (docker/ and the dev stack register all of them)", d.Env.Namespace, name)
		}
		out = append(out, c)
	}
	return out
}

func (d *Doctor) redis(ctx context.Context) []Check {
	const area = "Redis"
	if d.Redis == nil {
		return []Check{{Area: area, What: "REDIS_URL", Detail: "not set",
			Fix: "set REDIS_URL (redis://host:6379/0, rediss:// for TLS): the dedup layer and the shared rate budget live there"}}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := d.Redis.Info(ctx, "server").Result()
	if err != nil {
		return []Check{{Area: area, What: "reachable", Detail: short(err), Fix: "start Redis, or fix REDIS_URL (host, port, password)"}}
	}
	version := "?"
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			version = v
		}
	}
	return []Check{{Area: area, What: "reachable", OK: true, Detail: "version " + version}}
}

// short is an error's text, shortened for a checklist line.
func short(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
