// Package ccsetup is `starter centercode-setup`: it prints, from the config,
// what to enter in Centercode and in Aha! — as Markdown an admin can follow
// step by step: each feedback type's external source and its element
// parameters, the listeners, the webhook macros, and the Aha! side (webhook,
// record types, integration, custom fields, statuses).
package ccsetup

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/ahacc/ahacc/mapping"
)

// Run is the subcommand; it returns the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("centercode-setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default $AHACC_CONFIG, else ahacc.yaml)")
	typ := fs.String("type", "", "only this feedback type")
	host := fs.String("host", "<your ahacc host>", "the starter's public host, for the URLs to paste")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		*path = "ahacc.yaml"
	}
	// No secrets are needed to describe the setup.
	cfg, err := mapping.LoadFileWithOptions(*path, mapping.LoadOptions{AllowUnsetEnv: true})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	types := cfg.FeedbackTypeNames()
	if *typ != "" {
		if cfg.FeedbackType(*typ) == nil {
			fmt.Fprintf(stderr, "error: no feedback type %q (configured: %s)\n", *typ, strings.Join(types, ", "))
			return 1
		}
		types = []string{*typ}
	}
	Write(stdout, cfg, types, *host)
	return 0
}

// Write prints the setup for the feedback types named.
func Write(w io.Writer, cfg *mapping.Config, types []string, host string) {
	p := func(f string, a ...any) { fmt.Fprintf(w, f+"\n", a...) }
	base := "https://" + host
	p("### 1. Centercode: one external source per feedback type")
	p("")
	p("In the Centercode project, for each feedback type below: Feedback → the type → External")
	p("Sources → add one. Copy the URL Centercode shows into the variable named. The source's")
	p("parameters read ahacc's JSON body; their names must be exactly these.")
	for _, name := range types {
		ft := cfg.FeedbackType(name)
		p("")
		p("#### Feedback type `%s` (fed by Aha! %s records)", name, strings.Join(ft.RecordTypes, ", "))
		p("")
		p("- URL → `%s`", sourceVar(name))
		p("- Starting status: the one new feedback should start in (ahacc sends no status).")
		if ft.DefaultSubmitter != "" || hasElement(ft.Mapper, mapping.SubmitterParameter) {
			p("- Submitter: parameter `$['%s']` (the Aha! submitter's email). Default Submitter: any account;", mapping.SubmitterParameter)
			p("  ahacc sends `default_submitter` itself when the submitter is absent or unknown to Centercode.")
		} else {
			p("- Default Submitter: the account new feedback is submitted as (ahacc sends no submitter).")
		}
		if ft.ExternalReference != "" {
			p("- External reference: the element `%s` identifies the Aha! record; the record lookup", ft.ExternalReference)
			p("  (`CC_LOOKUP_URL`) finds feedback by it.")
		}
		p("- Element parameters:")
		p("")
		p("| form element | parameter | kind | required | choices |")
		p("|---|---|---|---|---|")
		for _, el := range ft.ElementSpecs() {
			if el.Param == mapping.SubmitterParameter {
				continue
			}
			req := ""
			if el.Required {
				req = "yes"
			}
			p("| %s | %s | %s | %s | %s |", formName(el), params(el), kindOf(el), req, strings.Join(el.Options, ", "))
		}
	}
	p("")
	p("### 2. Centercode: listeners")
	p("")
	p("A listener does one thing; create one per row (Feedback Automation, or User Automation for")
	p("user data). ahacc names the target in the body: `feedbackId` for feedback, `email` for a user.")
	p("")
	p("| listener | action | variable |")
	p("|---|---|---|")
	p("| feedback data | store custom data in a data group of your choice, keys: the element parameters above, `aha_reference`, `aha_url` | `CC_FEEDBACK_LISTENER_URL` |")
	for _, st := range slices.Sorted(maps.Keys(cfg.Centercode.StatusListeners)) {
		p("| set %s | run a macro that sets the status *%s* | `%s` |", st, st, statusVar(st))
	}
	if cfg.Centercode.CommentListenerURL.Value() != "" || usesComment(cfg) {
		p("| comment (optional) | add a comment | `CC_COMMENT_LISTENER_URL` |")
	}
	if ud := cfg.UserData; ud != nil {
		var keys []string
		for _, k := range ud.Keys() {
			keys = append(keys, fmt.Sprintf("`%s` (%s)", k, ud.Labels[stripN(k, ud)]))
		}
		p("| user data | store custom data in data group *%s*, keys (label): %s | `CC_USER_DATA_LISTENER_URL` |", ud.DataGroup, strings.Join(keys, ", "))
	}
	p("")
	p("### 3. Centercode: webhook macros")
	p("")
	p("Each is a Feedback macro with a *Webhook* action: method `POST`, header")
	p("`Authorization: Bearer <AHACC_CENTERCODE_WEBHOOK_TOKEN>`, content type JSON. Insert each `{{…}}`")
	p("with the macro editor's field picker.")
	p("")
	p("| macro | run | URL | body fields ahacc reads |")
	p("|---|---|---|---|")
	for _, name := range slices.Sorted(maps.Keys(cfg.Macros)) {
		m := cfg.Macro(name)
		p("| %s | by hand, or by a status rule | `%s/webhooks/centercode/macros/%s` | %s |", name, base, name, strings.Join(bodyFields(m), ", "))
	}
	p("| status change | automatically, when feedback is modified (no filter) | `%s/webhooks/centercode/status` | `feedbackId`, `status`, `runKey` |", base)
	p("")
	p("Body template: `{\"feedbackId\": {{feedback id}}, \"runKey\": \"{{feedback id}}-{{date modified}}\", \"status\": \"{{status}}\", \"title\": \"{{title}}\", \"description\": \"{{description}}\", \"submitterEmail\": \"{{submitter email}}\"}` plus the fields above.")
	p("")
	p("### 4. Aha!")
	p("")
	p("- Activity webhook (Settings → Account → Integrations → Activity webhook): URL")
	p("  `%s/webhooks/aha/<AHACC_AHA_WEBHOOK_TOKEN>`; record types: %s, and notes, comments and", base, strings.Join(auditTypes(cfg), ", "))
	p("  votes (they reach their idea's feedback).")
	if ws := cfg.MacroWorkspaces(); len(ws) > 0 {
		p("- Integration: in each workspace a macro creates records in (%s), add a REST API", strings.Join(ws, ", "))
		p("  integration; its id (the number in its URL) → `AHA_INTEGRATION_ID`. ahacc stamps field")
		p("  `%s` of it on each idea or feature it creates.", cfg.Aha.IntegrationField)
	}
	if fields := cfg.AhaCustomFields(); len(fields) > 0 {
		var list []string
		for _, f := range fields {
			list = append(list, fmt.Sprintf("`%s` (%s)", f.Key, f.Kind))
		}
		p("- Custom fields the config reads or writes (create them with these keys, on these records): %s.", strings.Join(list, ", "))
	}
	if sts := cfg.AhaStatuses(); len(sts) > 0 {
		p("- Workflow statuses the config names (each must exist in the ideas workflow): %s.", strings.Join(sts, ", "))
	}
}

func sourceVar(name string) string {
	return "CC_" + strings.ToUpper(strings.NewReplacer("-", "_", " ", "_").Replace(name)) + "_SOURCE_URL"
}

func statusVar(status string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(status) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '_':
			b.WriteByte('_')
		}
	}
	return "CC_STATUS_" + b.String() + "_LISTENER_URL"
}

func hasElement(m *mapping.Mapper, param string) bool {
	for _, el := range m.ElementSpecs() {
		if el.Param == param {
			return true
		}
	}
	return false
}

func formName(el mapping.ElementSpec) string {
	switch {
	case el.FanOut:
		return fmt.Sprintf("%s … %s (one form element or attachment slot each)", strings.Replace(el.Param, "{n}", "1", 1), strings.Replace(el.Param, "{n}", fmt.Sprint(el.Max), 1))
	case el.Index >= 0:
		return fmt.Sprintf("%s (value %d)", el.Param, el.Index+1)
	}
	return el.Param
}

// params are the source parameters (JSONPaths) that read an element.
func params(el mapping.ElementSpec) string {
	switch {
	case el.FanOut:
		var out []string
		for i := 1; i <= el.Max; i++ {
			out = append(out, fmt.Sprintf("`$['%s']`", strings.Replace(el.Param, "{n}", fmt.Sprint(i), 1)))
		}
		return strings.Join(out, ", ")
	case el.Index >= 0:
		return fmt.Sprintf("`$['%s'][%d]`", el.Param, el.Index)
	}
	return fmt.Sprintf("`$['%s']`", el.Param)
}

func kindOf(el mapping.ElementSpec) string {
	switch el.Kind {
	case "choice":
		return "Choices (one answer)"
	case "multi_choice":
		return "Multiple Choice"
	case "attachment":
		return "File Attachment (URL)"
	case "rating":
		return fmt.Sprintf("Rating Scale (1–%d)", el.Scale)
	case "":
		return "text"
	}
	return el.Kind
}

func usesComment(cfg *mapping.Config) bool {
	for _, n := range cfg.FeedbackTypeNames() {
		if cfg.FeedbackType(n).OnDestroy == mapping.OnDestroyComment {
			return true
		}
	}
	return false
}

// stripN maps a fan-out key back to its configured name for its label.
func stripN(k string, ud *mapping.UserData) string {
	if _, ok := ud.Labels[k]; ok {
		return k
	}
	for name := range ud.Labels {
		if strings.Contains(name, "{n}") {
			pre, _, _ := strings.Cut(name, "{n}")
			if strings.HasPrefix(k, pre) {
				return name
			}
		}
	}
	return k
}

var bodyPath = regexp.MustCompile(`\$\.([A-Za-z_][A-Za-z0-9_]*)`)

// bodyFields are the top-level body fields a macro reads.
func bodyFields(m *mapping.Macro) []string {
	seen := map[string]bool{"feedbackId": true}
	out := []string{"`feedbackId`"}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			out = append(out, "`"+f+"`")
		}
	}
	for _, r := range m.Require {
		add(r)
	}
	for _, el := range m.ElementSpecs() {
		for _, mm := range bodyPath.FindAllStringSubmatch(el.Paths, -1) {
			add(mm[1])
		}
	}
	return out
}

func auditTypes(cfg *mapping.Config) []string {
	out := make([]string, 0, len(cfg.Aha.RecordTypes))
	for t := range cfg.Aha.RecordTypes {
		out = append(out, "`"+t+"`")
	}
	sort.Strings(out)
	return out
}
