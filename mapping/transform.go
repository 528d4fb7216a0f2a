package mapping

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type opKind uint8

const (
	opHTMLToText opKind = iota
	opSanitizeHTML
	opTrim
	opLower
	opUpper
	opTruncate
	opJoin
	opFirst
	opMap
	opTemplate
	opDateFormat
)

var transformNames = []string{"html_to_text", "sanitize_html", "trim", "lower", "upper", "truncate", "join", "first", "map", "template", "date_format"}

// step is one compiled transform.
type step struct {
	op          opKind
	n           int            // truncate
	sep         string         // join
	m           map[string]any // map (values pre-boxed strings)
	fallback    any
	hasFallback bool
	tpl         []tplPart // template
	layout      string    // date_format (Go layout)
}

type tplPart struct {
	lit     string
	path    *cpath // nil with cur=false: literal only
	current bool   // {{ . }}: the element's current value
}

func compileStep(d *decoder, n *node, path string) (step, bool) {
	switch n.kind {
	case nScalar:
		switch n.val {
		case "html_to_text":
			return step{op: opHTMLToText}, true
		case "sanitize_html":
			return step{op: opSanitizeHTML}, true
		case "trim":
			return step{op: opTrim}, true
		case "lower":
			return step{op: opLower}, true
		case "upper":
			return step{op: opUpper}, true
		case "first":
			return step{op: opFirst}, true
		case "join":
			return step{op: opJoin, sep: ", "}, true
		case "truncate", "map", "template", "date_format":
			d.errf(n, path, "%s needs a value, e.g. {%s: %s}", n.val, n.val, map[string]string{
				"truncate": "255", "map": "{P1: Critical}", "template": `"{{ $.name }}"`, "date_format": `"2006-01-02"`}[n.val])
			return step{}, false
		}
		d.errf(n, path, "unknown transform %q%s", n.val, suggest(n.val, transformNames))
		return step{}, false
	case nMap:
	default:
		d.errf(n, path, "must be a transform name or a {name: value} mapping")
		return step{}, false
	}
	if len(n.keys) == 0 {
		d.errf(n, path, "empty transform")
		return step{}, false
	}
	name := n.keys[0].val
	if name == "map" {
		f := d.object(n, path, "map", "fallback")
		return compileMapStep(d, f.get("map"), f.get("fallback"), f.at("map"), f.at("fallback"))
	}
	f := d.object(n, path, name)
	if len(n.keys) > 1 {
		d.errf(n.keys[1], join(path, n.keys[1].val), "a transform has one key (only map: takes a fallback:)")
	}
	v := n.vals[0]
	p := join(path, name)
	scalar := func() (string, bool) {
		if v.kind != nScalar {
			d.errf(v, p, "must be a single value")
			return "", false
		}
		return v.val, true
	}
	switch name {
	case "truncate":
		x := f.integer("truncate", 0, 1, 1<<20)
		return step{op: opTruncate, n: x}, x > 0
	case "join":
		s, ok := scalar()
		return step{op: opJoin, sep: s}, ok
	case "template":
		s, ok := scalar()
		if !ok {
			return step{}, false
		}
		parts, err := compileTemplate(s)
		if err != nil {
			d.errf(v, p, "%v", err)
			return step{}, false
		}
		return step{op: opTemplate, tpl: parts}, true
	case "date_format":
		s, ok := scalar()
		if !ok {
			return step{}, false
		}
		layout, err := dateLayout(s)
		if err != nil {
			d.errf(v, p, "%v", err)
			return step{}, false
		}
		return step{op: opDateFormat, layout: layout}, true
	case "html_to_text", "sanitize_html", "trim", "lower", "upper", "first":
		d.errf(v, p, "%s takes no value; write it as a plain list item", name)
		return step{}, false
	}
	d.errf(n.keys[0], p, "unknown transform %q%s", name, suggest(name, transformNames))
	return step{}, false
}

func compileMapStep(d *decoder, mn, fb *node, mpath, fbpath string) (step, bool) {
	s := step{op: opMap, m: map[string]any{}}
	if mn == nil || mn.kind != nMap {
		d.errf(mn, mpath, "must be a mapping of values, e.g. {P1: Critical, P2: Major}")
		return s, false
	}
	for i, k := range mn.keys {
		v := mn.vals[i]
		if v.kind != nScalar {
			d.errf(v, join(mpath, k.val), "must be a single value")
			continue
		}
		if _, dup := s.m[k.val]; dup {
			d.errf(k, join(mpath, k.val), "duplicate key")
			continue
		}
		s.m[k.val] = v.val
	}
	if fb != nil {
		if fb.kind != nScalar {
			d.errf(fb, fbpath, "must be a single value")
		} else {
			s.fallback, s.hasFallback = any(fb.val), true
		}
	}
	return s, true
}

// compileTemplate parses "text {{ $.path }} text {{ . }}".
func compileTemplate(s string) ([]tplPart, error) {
	var parts []tplPart
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				parts = append(parts, tplPart{lit: rest})
			}
			return parts, nil
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("template %q: {{ without }}", s)
		}
		lit := rest[:i]
		expr := strings.TrimSpace(rest[i+2 : i+j])
		rest = rest[i+j+2:]
		pt := tplPart{lit: lit}
		switch {
		case expr == "." || expr == "value":
			pt.current = true
		case strings.HasPrefix(expr, "$"):
			p, err := compilePath(expr)
			if err != nil {
				return nil, fmt.Errorf("template %q: %v", s, err)
			}
			pt.path = p
		default:
			return nil, fmt.Errorf("template %q: {{ %s }} must be a JSONPath ($.field) or . for the current value", s, expr)
		}
		parts = append(parts, pt)
	}
}

// dateLayout accepts a Go layout (2006-01-02), strftime (%Y-%m-%d) or a name.
func dateLayout(s string) (string, error) {
	switch strings.ToLower(s) {
	case "date":
		return "2006-01-02", nil
	case "datetime", "rfc3339":
		return time.RFC3339, nil
	}
	if !strings.Contains(s, "%") {
		if !strings.ContainsAny(s, "0123456789") || time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(s) == s {
			return "", fmt.Errorf("date_format %q has no date fields; use a Go layout (2006-01-02) or strftime (%%Y-%%m-%%d)", s)
		}
		return s, nil
	}
	repl := map[byte]string{'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03", 'M': "04",
		'S': "05", 'p': "PM", 'b': "Jan", 'B': "January", 'a': "Mon", 'A': "Monday", 'Z': "MST", 'z': "-0700", 'F': "2006-01-02", 'T': "15:04:05", '%': "%"}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("date_format %q ends with %%", s)
		}
		r, ok := repl[s[i+1]]
		if !ok {
			return "", fmt.Errorf("date_format %q: %%%c is not supported", s, s[i+1])
		}
		b.WriteString(r)
		i++
	}
	return b.String(), nil
}

var inputLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

func parseTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case string:
		s := strings.TrimSpace(t)
		for _, l := range inputLayouts {
			if tm, err := time.Parse(l, s); err == nil {
				return tm, true
			}
		}
	case int64:
		return time.Unix(t, 0), true
	case float64:
		if t >= -1e12 && t <= 1e12 {
			return time.Unix(int64(t), 0), true
		}
	}
	return time.Time{}, false
}

// run applies the element's steps to vals (which the caller owns).
func (el *element) run(vals []any, root any, ctx string) ([]any, *ElementProblem) {
	for i := range el.steps {
		s := &el.steps[i]
		switch s.op {
		case opFirst:
			if len(vals) > 1 {
				vals = vals[:1]
			}
		case opJoin:
			if len(vals) == 0 {
				continue
			}
			if len(vals) == 1 {
				if _, ok := vals[0].(string); ok {
					continue
				}
			}
			var b strings.Builder
			n := len(s.sep) * (len(vals) - 1)
			for _, v := range vals {
				if t, ok := v.(string); ok {
					n += len(t)
				}
			}
			b.Grow(n)
			for j, v := range vals {
				t, ok := toText(v)
				if !ok {
					return nil, el.notText(v, ctx)
				}
				if j > 0 {
					b.WriteString(s.sep)
				}
				b.WriteString(t)
			}
			vals = append(vals[:0], b.String())
		case opTemplate:
			out, empty, prob := el.template(s, vals, root, ctx)
			if prob != nil {
				return nil, prob
			}
			vals = vals[:0]
			if !empty {
				vals = append(vals, out)
			}
		default:
			for j, v := range vals {
				if s.op == opMap {
					vals[j] = s.mapValue(v)
					continue
				}
				t, ok := toText(v)
				if !ok {
					return nil, el.notText(v, ctx)
				}
				var r string
				switch s.op {
				case opHTMLToText:
					r = htmlToText(t)
				case opSanitizeHTML:
					r = sanitizeHTML(t)
				case opTrim:
					r = strings.TrimSpace(t)
				case opLower:
					r = strings.ToLower(t)
				case opUpper:
					r = strings.ToUpper(t)
				case opTruncate:
					r = truncate(t, s.n)
				}
				if s.op != opDateFormat {
					if _, isStr := v.(string); !isStr || r != t {
						vals[j] = r // unchanged strings keep their boxed value
					}
					continue
				}
				switch s.op {
				case opDateFormat:
					tm, ok := parseTime(v)
					if !ok {
						return nil, &ElementProblem{Element: el.name, Code: CodeInvalidValue,
							Message: fmt.Sprintf("%s: %s is not a date (%s); expected e.g. 2019-01-01T00:00:00Z or 2019-01-01", el.name, quote(t), ctx)}
					}
					vals[j] = tm.UTC().Format(s.layout)
				}
			}
		}
	}
	return vals, nil
}

func (s *step) mapValue(v any) any {
	t, ok := toText(v)
	if !ok {
		return v
	}
	if m, ok := s.m[t]; ok {
		return m
	}
	if s.hasFallback {
		return s.fallback
	}
	return v
}

func (el *element) template(s *step, vals []any, root any, ctx string) (string, bool, *ElementProblem) {
	var b strings.Builder
	empty := true
	var scratch []any
	for _, p := range s.tpl {
		b.WriteString(p.lit)
		var vs []any
		switch {
		case p.current:
			vs = vals
		case p.path != nil:
			scratch = p.path.eval(root, scratch[:0])
			vs = scratch
		default:
			continue
		}
		for j, v := range vs {
			t, ok := toText(v)
			if !ok {
				return "", false, el.notText(v, ctx)
			}
			if j > 0 {
				b.WriteString(", ")
			}
			if t != "" {
				empty = false
			}
			b.WriteString(t)
		}
	}
	return b.String(), empty, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for c := 0; c < n && i < len(s); c++ {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return s[:i]
}

func (el *element) notText(v any, ctx string) *ElementProblem {
	what := "an object"
	if _, ok := v.([]any); ok {
		what = "a list"
	}
	return &ElementProblem{Element: el.name, Code: CodeInvalidValue,
		Message: fmt.Sprintf("%s: %s gave %s, not text (%s); point the path at a field inside it", el.name, el.pathList, what, ctx)}
}

// toText renders a scalar JSON value as text.
func toText(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case int64:
		return strconv.FormatInt(t, 10), true
	case int:
		return strconv.Itoa(t), true
	case float64:
		return formatFloat(t), true
	case bool:
		return strconv.FormatBool(t), true
	case nil:
		return "", true
	case interface{ String() string }: // json.Number
		return t.String(), true
	}
	return "", false
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func quote(s string) string {
	if len(s) > 80 {
		s = truncate(s, 77) + "..."
	}
	return strconv.Quote(s)
}

// finish converts one transformed value to what the element's kind sends.
// name is the parameter reported in problems (a fan-out's numbered name).
func (el *element) finish(v any, name, ctx string) (any, *ElementProblem) {
	t, ok := toText(v)
	if !ok {
		return nil, el.notText(v, ctx)
	}
	bad := func(what string) (any, *ElementProblem) {
		return nil, &ElementProblem{Element: name, Code: CodeInvalidValue,
			Message: fmt.Sprintf("%s: %s is not %s (%s)", name, quote(t), what, ctx)}
	}
	switch el.kind {
	case KindChoice, KindMultiChoice:
		if _, ok := el.optSet[t]; !ok {
			hint := "add it to map: or change the options"
			return nil, &ElementProblem{Element: name, Code: CodeInvalidChoice,
				Message: fmt.Sprintf("%s: %s is not one of %s (%s); %s", name, quote(t), strings.Join(el.options, ", "), ctx, hint)}
		}
		return t, nil
	case KindNumber, KindRating:
		var num any
		switch n := v.(type) {
		case int64, float64:
			num = n
		default:
			f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return bad("a number")
			}
			num = f
		}
		if f, ok := num.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1e15 {
			num = int64(f)
		}
		if el.kind == KindRating {
			i, ok := num.(int64)
			if !ok || i < 1 || i > int64(el.scale) {
				return bad(fmt.Sprintf("a rating from 1 to %d", el.scale))
			}
		}
		return num, nil
	case KindEmailValue:
		if !validEmail(t) {
			return bad("an email address")
		}
		return v, nil
	case KindAttachment:
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("an absolute http(s) URL")
		}
	}
	if _, ok := v.(string); ok {
		return v, nil // already boxed
	}
	return t, nil
}

// validEmail is a cheap syntactic check (one @, a dotted domain, no spaces
// or control characters); Centercode does the authoritative matching.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || len(s) > 254 {
		return false
	}
	domain := s[at+1:]
	if len(domain) < 3 || !strings.Contains(domain, ".") || domain[0] == '.' || domain[len(domain)-1] == '.' || strings.Contains(domain, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == ':' || c == '\\' || c == '"' || c == '[' || c == ']' {
			return false
		}
	}
	return true
}
