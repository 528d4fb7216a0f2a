// Package checkmapping implements the `check-mapping` operator command: a dry
// run of the mapping engine on one record, printing the body that would be
// sent, where every value came from, and every error.
package checkmapping

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ahacc/ahacc/mapping"
)

// wrappers are the resource keys of Aha! API responses and their record kind.
var wrappers = map[string]string{
	"idea": mapping.KindIdea, "feature": mapping.KindFeature, "epic": mapping.KindEpic,
	"requirement": mapping.KindRequirement, "idea_user": mapping.KindIdeaUser,
	"portal_user": mapping.KindPortalUser, "idea_organization": mapping.KindIdeaOrganization,
	"idea_comment": mapping.KindIdeaComment,
}

const usage = `usage: check-mapping [--config ahacc.yaml] (--type NAME | --user-data | --macro NAME) --record FILE

Maps one record with the configuration and prints the body that would be
sent, a provenance table and every error, without sending anything.
--record takes a bare record or a raw Aha! API response ({"idea": {...}});
"-" reads standard input. With --macro it takes a Centercode macro body.
Without --type/--user-data/--macro the record's wrapper picks every target
fed by its kind. Exit status: 0 mapped, 1 mapping or config error, 2 usage.
`

// Run executes check-mapping with args (without the command name).
func Run(args []string, stdout, stderr io.Writer) int {
	o, code := parseFlags(args, stderr)
	if code >= 0 {
		return code
	}
	cfg, err := mapping.LoadFileWithOptions(o.config, mapping.LoadOptions{AllowUnsetEnv: !o.strictEnv})
	if err != nil {
		fmt.Fprintf(stderr, "config errors:\n%s\n", indent(err.Error()))
		return 1
	}
	fmt.Fprintf(stdout, "config %s (hash %s)\n", cfg.File, cfg.ShortHash())
	if u := cfg.UnsetEnv(); len(u) > 0 {
		fmt.Fprintf(stderr, "note: not set, ignored for this dry run: %s\n", strings.Join(u, ", "))
	}
	raw, err := readRecord(o.record)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	record, kind, err := unwrap(raw)
	switch {
	case o.macro != "":
		record = raw // a macro body is never wrapped
	case err != nil:
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	ts, code := targets(cfg, o, kind, record, stdout, stderr)
	if code >= 0 {
		return code
	}
	code = 0
	for _, t := range ts {
		if !report(stdout, stderr, t.label, t.m, t.ud, record) {
			code = 1
		}
	}
	return code
}

// options are check-mapping's flags.
type options struct {
	config, typ, macro, record string
	userData, strictEnv        bool
}

// parseFlags reads the flags; a code >= 0 means exit with it.
func parseFlags(args []string, stderr io.Writer) (options, int) {
	var o options
	fs := flag.NewFlagSet("check-mapping", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	def := os.Getenv("AHACC_CONFIG")
	if def == "" {
		def = "ahacc.yaml"
	}
	fs.StringVar(&o.config, "config", def, "config file (default $AHACC_CONFIG or ahacc.yaml)")
	fs.StringVar(&o.typ, "type", "", "feedback type to map the record with")
	fs.StringVar(&o.macro, "macro", "", "macro whose body mapping to apply")
	fs.BoolVar(&o.userData, "user-data", false, "map the record as user data")
	fs.StringVar(&o.record, "record", "", "record JSON file, or - for stdin")
	fs.BoolVar(&o.strictEnv, "strict-env", false, "fail on unset ${VAR}s instead of ignoring them for the dry run")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0
		}
		return o, 2
	}
	targets := 0
	for _, set := range []bool{o.typ != "", o.macro != "", o.userData} {
		if set {
			targets++
		}
	}
	if o.record == "" || targets > 1 || fs.NArg() > 0 {
		fs.Usage()
		return o, 2
	}
	return o, -1
}

// target is one mapping to dry-run the record through.
type target struct {
	label string
	m     *mapping.Mapper
	ud    *mapping.UserData // user data: print the listener body as sent
}

// targets are the mappings the flags name, or — for a wrapped Aha! record
// without one — every mapping its kind feeds; a code >= 0 means exit with it.
func targets(cfg *mapping.Config, o options, kind string, record []byte, stdout, stderr io.Writer) ([]target, int) {
	switch {
	case o.typ != "":
		ft := cfg.FeedbackType(o.typ)
		if ft == nil {
			fmt.Fprintf(stderr, "error: no feedback type %q (configured: %s)\n", o.typ, strings.Join(cfg.FeedbackTypeNames(), ", "))
			return nil, 1
		}
		return []target{{fmt.Sprintf("feedback type %q", ft.Name), ft.Mapper, nil}}, -1
	case o.macro != "":
		mc := cfg.Macro(o.macro)
		if mc == nil {
			fmt.Fprintf(stderr, "error: no macro %q (configured: %s)\n", o.macro, strings.Join(sortedMacros(cfg), ", "))
			return nil, 1
		}
		return []target{{fmt.Sprintf("macro %q (%s)", mc.Name, mc.Action), mc.Mapper, nil}}, -1
	case o.userData:
		if cfg.UserData == nil {
			fmt.Fprintln(stderr, "error: the config has no user_data section")
			return nil, 1
		}
		return []target{{"user data", cfg.UserData.Mapper, cfg.UserData}}, -1
	case kind == "":
		fmt.Fprintln(stderr, "error: a bare record needs --type, --user-data or --macro (or pass the raw Aha! response, e.g. {\"idea\": {...}})")
		return nil, 2
	}
	fts := cfg.FeedbackTypesFor(kind)
	if cfg.ContentRouted(kind) {
		// One of them, by the record's content (when:).
		name, why, err := cfg.RouteRecord(kind, record)
		if err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return nil, 1
		}
		if name == "" {
			fmt.Fprintf(stdout, "routes to no feedback type: %s\n", why)
			fts = nil
		} else {
			fmt.Fprintf(stdout, "routes to feedback type %q: %s\n", name, why)
			fts = []*mapping.FeedbackType{cfg.FeedbackType(name)}
		}
	}
	var ts []target
	for _, ft := range fts {
		ts = append(ts, target{fmt.Sprintf("feedback type %q", ft.Name), ft.Mapper, nil})
	}
	if cfg.UserData.Accepts(kind) {
		ts = append(ts, target{"user data", cfg.UserData.Mapper, cfg.UserData})
	}
	if len(ts) == 0 {
		fmt.Fprintf(stderr, "error: nothing in the config is fed by %s records\n", kind)
		return nil, 1
	}
	return ts, -1
}

func sortedMacros(cfg *mapping.Config) []string {
	out := make([]string, 0, len(cfg.Macros))
	for n := range cfg.Macros {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func readRecord(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	return b, nil
}

// unwrap accepts a bare record or an Aha! response {"idea": {...}} and
// returns the record and, for a response, its kind.
func unwrap(raw []byte) ([]byte, string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, "", fmt.Errorf("record is not a JSON object: %v", err)
	}
	for key, val := range top {
		kind, ok := wrappers[key]
		if !ok || len(top) > 1 {
			continue
		}
		v := bytes.TrimSpace(val)
		if len(v) > 0 && v[0] == '{' {
			return v, kind, nil
		}
	}
	for key := range top {
		if _, ok := wrappers[strings.TrimSuffix(key, "s")]; ok && len(top) <= 2 {
			return nil, "", fmt.Errorf("%q is a list response; pass one record (e.g. {\"%s\": {...}})", key, strings.TrimSuffix(key, "s"))
		}
	}
	return raw, "", nil
}

// report prints one mapping — the body exactly as it is sent — and returns
// whether it succeeded. User data (ud set) is sent with every key, one
// without a value as "".
func report(stdout, stderr io.Writer, label string, m *mapping.Mapper, ud *mapping.UserData, record []byte) bool {
	fmt.Fprintf(stdout, "\n== %s\n", label)
	res, err := m.Map(record)
	if res != nil {
		sent, hash := res.JSON, res.Hash
		if ud != nil {
			body, _, _, _ := ud.ListenerBody(res, "")
			if b, err := json.Marshal(body); err == nil {
				sum := sha256.Sum256(b)
				sent, hash = b, hex.EncodeToString(sum[:])
			}
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, sent, "", "  ") == nil {
			fmt.Fprintf(stdout, "body (sha256 %s):\n%s\n", hash[:12], pretty.String())
		}
		if res.Reference != "" {
			fmt.Fprintf(stdout, "reference: %s\n", res.Reference)
		}
		fmt.Fprintln(stdout, "\nprovenance:")
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ELEMENT\tPATH\tRAW\tVALUE\tNOTE")
		for _, p := range res.Provenance {
			note := p.Note
			if ud != nil && strings.HasSuffix(note, "omitted") {
				note = strings.TrimSuffix(note, "omitted") + `sent as "" (clears it)`
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Element, short(p.Path, 50), render(p.Raw), render(p.Value), short(note, 60))
		}
		tw.Flush()
	}
	if err == nil {
		fmt.Fprintln(stdout, "\nOK")
		return true
	}
	var ve *mapping.ValidationError
	if errors.As(err, &ve) {
		fmt.Fprintf(stderr, "\n%d error(s) (%s):\n", len(ve.Problems), label)
		for _, p := range ve.Problems {
			fmt.Fprintf(stderr, "  - %s\n", p.Message)
		}
	} else {
		fmt.Fprintf(stderr, "\nerror (%s): %v\n", label, err)
	}
	return false
}

func render(v any) string {
	if v == nil {
		return "-"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return short(fmt.Sprint(v), 50)
	}
	return short(strings.TrimSpace(b.String()), 50)
}

func short(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
