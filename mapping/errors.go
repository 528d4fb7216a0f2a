package mapping

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong in a config file.
type Problem struct {
	File    string
	Line    int
	Column  int
	Path    string // field path, e.g. feedback_types.bugs.elements.Severity.map
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	fmt.Fprintf(&b, ":%d:%d: ", p.Line, p.Column)
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ConfigError lists every problem found while loading a config, not just the first.
type ConfigError struct {
	File     string
	Problems []Problem
}

func (e *ConfigError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems:", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Problem codes of an ElementProblem, so callers can classify without parsing text.
const (
	CodeInvalidRecord   = "invalid_record"   // the record is not JSON / not an object
	CodeMissingRequired = "missing_required" // a required element has no value
	CodeInvalidChoice   = "invalid_choice"   // a value is not among a choice element's options
	CodeInvalidValue    = "invalid_value"    // a value does not fit the element's kind
)

// ElementProblem is one element that cannot be sent as it is.
type ElementProblem struct {
	Element string // parameter name ("Severity", "Attachment 2"); empty for record-level problems
	Code    string // one of the Code* constants
	Message string // complete, human-readable sentence
}

// ValidationError is returned by Map when a record cannot be mapped into a
// body the far side accepts. It is permanent: retrying with the same record
// and config gives the same answer, so callers must not retry it.
type ValidationError struct {
	Context  string // `feedback type "bugs"`, `user data`, `macro "push-to-aha"`
	Problems []ElementProblem
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return strings.Join(msgs, "; ")
}

// Code returns the code of the first problem (the most useful one to branch on).
func (e *ValidationError) Code() string {
	if len(e.Problems) == 0 {
		return CodeInvalidValue
	}
	return e.Problems[0].Code
}

// IsPermanent reports whether err (or an error it wraps) is a mapping
// ValidationError, i.e. must not be retried without a change of record or config.
func IsPermanent(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}

// decoder collects problems while reading a config; it never stops at the first.
type decoder struct {
	file  string
	probs []Problem
}

func (d *decoder) errAt(line, col int, path, format string, args ...any) {
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Column: col, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) errf(n *node, path, format string, args ...any) {
	line, col := 1, 1
	if n != nil {
		line, col = n.line, n.col
	}
	d.errAt(line, col, path, format, args...)
}

func (d *decoder) err() error {
	if len(d.probs) == 0 {
		return nil
	}
	sort.SliceStable(d.probs, func(i, j int) bool {
		a, b := d.probs[i], d.probs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &ConfigError{File: d.file, Problems: d.probs}
}

// fields is a mapping node whose keys have been checked against the allowed set.
type fields struct {
	d    *decoder
	n    *node
	path string
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object checks that n is a mapping with only allowed keys (no duplicates),
// reporting unknown keys with a suggestion. It never returns nil.
func (d *decoder) object(n *node, path string, allowed ...string) *fields {
	f := &fields{d: d, n: n, path: path}
	if n == nil || n.kind == nNull {
		f.n = nil
		return f
	}
	if n.kind != nMap {
		d.errf(n, path, "must be a mapping, not %s", n.what())
		f.n = nil
		return f
	}
	seen := make(map[string]bool, len(n.keys))
	for _, k := range n.keys {
		if seen[k.val] {
			d.errf(k, join(path, k.val), "duplicate key")
			continue
		}
		seen[k.val] = true
		if allowed == nil {
			continue
		}
		ok := false
		for _, a := range allowed {
			if a == k.val {
				ok = true
				break
			}
		}
		if !ok {
			d.errf(k, join(path, k.val), "unknown key%s", suggest(k.val, allowed))
		}
	}
	return f
}

// suggest returns ` (did you mean "x"?)` or the list of allowed keys.
func suggest(got string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(got), a); d < bestD {
			best, bestD = a, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (allowed: " + strings.Join(allowed, ", ") + ")"
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// entries iterates the mapping's keys in file order.
func (f *fields) entries() (keys, vals []*node) {
	if f.n == nil {
		return nil, nil
	}
	return f.n.keys, f.n.vals
}

func (f *fields) get(key string) *node {
	if f.n == nil {
		return nil
	}
	if i := f.n.index(key); i >= 0 {
		if f.n.vals[i].kind == nNull {
			return nil
		}
		return f.n.vals[i]
	}
	return nil
}

func (f *fields) at(key string) string { return join(f.path, key) }

// pos returns a node to blame for a missing key: the mapping itself.
func (f *fields) where() *node { return f.n }

func (f *fields) str(key string) string {
	n := f.get(key)
	if n == nil {
		return ""
	}
	if n.kind != nScalar {
		f.d.errf(n, f.at(key), "must be text, not %s", n.what())
		return ""
	}
	return n.val
}

// requiredStr reports a missing or empty value, except when it is empty only
// because an environment variable is unset in a lenient (dry-run) load.
func (f *fields) requiredStr(key, hint string) string {
	n := f.get(key)
	s := f.str(key)
	if s == "" && (n == nil || len(n.unset) == 0) {
		blame := n
		if blame == nil {
			blame = f.where()
		}
		f.d.errf(blame, f.at(key), "is required%s", hint)
	}
	return s
}

func (f *fields) boolean(key string, def bool) bool {
	n := f.get(key)
	if n == nil {
		return def
	}
	if n.kind == nScalar {
		switch strings.ToLower(n.val) {
		case "true", "yes", "on":
			return true
		case "false", "no", "off":
			return false
		}
	}
	f.d.errf(n, f.at(key), "must be true or false")
	return def
}

func (f *fields) integer(key string, def, lo, hi int) int {
	n := f.get(key)
	if n == nil {
		return def
	}
	v, err := strconv.Atoi(n.val)
	if n.kind != nScalar || err != nil {
		f.d.errf(n, f.at(key), "must be a whole number")
		return def
	}
	if v < lo || v > hi {
		f.d.errf(n, f.at(key), "must be between %d and %d, not %d", lo, hi, v)
		return def
	}
	return v
}

// duration reads a duration of at least lo (def when absent).
func (f *fields) duration(key string, def, lo time.Duration) time.Duration {
	n := f.get(key)
	if n == nil {
		return def
	}
	v, err := time.ParseDuration(n.val)
	if n.kind != nScalar || err != nil {
		f.d.errf(n, f.at(key), "must be a duration such as 2s, 5m or 168h")
		return def
	}
	if v < lo {
		f.d.errf(n, f.at(key), "must be at least %s", lo)
		return def
	}
	return v
}

// strList accepts a single string or a list of strings.
func (f *fields) strList(key string) []string {
	n := f.get(key)
	if n == nil {
		return nil
	}
	return f.d.strList(n, f.at(key))
}

func (d *decoder) strList(n *node, path string) []string {
	switch n.kind {
	case nScalar:
		return []string{n.val}
	case nSeq:
		out := make([]string, 0, len(n.items))
		for i, it := range n.items {
			if it.kind != nScalar {
				d.errf(it, fmt.Sprintf("%s[%d]", path, i), "must be text, not %s", it.what())
				continue
			}
			out = append(out, it.val)
		}
		return out
	}
	d.errf(n, path, "must be text or a list of text, not %s", n.what())
	return nil
}
