package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Mapper turns one record (JSON) into a request body. It is built at load,
// never modified afterwards, and safe for concurrent use.
type Mapper struct {
	context    string
	elements   []*element
	refElement string   // element whose value is Result.Reference
	refEl      *element // implicit reference outside the body (macro feedback id)
	require    []string // top-level record fields that must be present (macros)
}

// Result is a mapped body with what is needed to send, compare and explain it.
type Result struct {
	// Body is the request body (Centercode parameters, or Aha! fields for a macro).
	Body map[string]any
	// JSON is Body as canonical JSON: keys sorted, no insignificant space.
	JSON []byte
	// Hash is the sha256 (hex) of JSON; equal bodies have equal hashes.
	Hash string
	// Reference identifies the far-side target: the external reference
	// element's value (feedback types), the user's email (user data) or the
	// Centercode feedback id (macros).
	Reference string
	// Provenance explains every parameter, in config order.
	Provenance []Provenance
}

// Provenance explains how one body parameter got its value.
type Provenance struct {
	Element string // body parameter ("Attachment 2" for a fan-out)
	Path    string // JSONPath(s) read
	Raw     any    // value(s) found at the path, before transforms; nil if none
	Value   any    // value written to the body; nil if omitted
	Note    string // "default", "no value, omitted", "fan-out 2 of 3", "error", …
}

// Elements returns the element (parameter) names in config order.
func (m *Mapper) Elements() []string {
	out := make([]string, 0, len(m.elements))
	for _, el := range m.elements {
		out = append(out, el.name)
	}
	return out
}

// Context describes the mapper in messages: `feedback type "bugs"`, `user data`, `macro "x"`.
func (m *Mapper) Context() string { return m.context }

// Map parses a JSON record and maps it. On a *ValidationError the partial
// Result is still returned (for dry runs and logs); it must not be sent.
func (m *Mapper) Map(record []byte) (*Result, error) {
	root, err := parseRecord(record)
	if err != nil {
		return nil, &ValidationError{Context: m.context, Problems: []ElementProblem{{Code: CodeInvalidRecord,
			Message: fmt.Sprintf("record is not valid JSON (%s): %v", m.context, err)}}}
	}
	return m.MapValue(root)
}

// MapValue maps an already decoded record (map[string]any as produced by
// encoding/json or ojg).
func (m *Mapper) MapValue(record any) (*Result, error) {
	root, ok := record.(map[string]any)
	if !ok {
		return nil, &ValidationError{Context: m.context, Problems: []ElementProblem{{Code: CodeInvalidRecord,
			Message: fmt.Sprintf("record must be a JSON object (%s)", m.context)}}}
	}
	res := &Result{Body: make(map[string]any, len(m.elements)), Provenance: make([]Provenance, 0, len(m.elements)+2)}
	var probs []ElementProblem
	for _, name := range m.require {
		if v, ok := root[name]; !ok || v == nil || v == "" {
			probs = append(probs, ElementProblem{Element: name, Code: CodeMissingRequired,
				Message: fmt.Sprintf("%s: the body has no %q (%s); add it to the webhook macro's body template", name, name, m.context)})
		}
	}
	buf := make([]any, 0, 16)
	for _, el := range m.elements {
		buf = el.apply(root, res, &probs, m.context, buf)
	}
	switch {
	case m.refEl != nil:
		m.refEl.apply(root, res, &probs, m.context, buf)
		p := &res.Provenance[len(res.Provenance)-1]
		if p.Value != nil {
			res.Reference, _ = toText(p.Value)
		}
	case m.refElement != "":
		if v, ok := res.Body[m.refElement]; ok {
			res.Reference, _ = toText(v)
		}
	}
	res.JSON = appendCanonical(make([]byte, 0, 512), res.Body)
	sum := sha256.Sum256(res.JSON)
	var hx [64]byte
	hex.Encode(hx[:], sum[:])
	res.Hash = string(hx[:])
	if len(probs) > 0 {
		return res, &ValidationError{Context: m.context, Problems: probs}
	}
	return res, nil
}

// apply evaluates one element into res; buf is scratch space returned for reuse.
func (el *element) apply(root map[string]any, res *Result, probs *[]ElementProblem, ctx string, buf []any) []any {
	vals := buf[:0]
	path := ""
	for _, p := range el.paths {
		if vals = p.eval(root, vals); len(vals) > 0 {
			path = p.src
			break
		}
	}
	if path == "" {
		path = el.pathList
	}
	var raw any
	switch len(vals) {
	case 0:
	case 1:
		raw = vals[0]
	default:
		raw = append([]any(nil), vals...)
	}
	fail := func(p *ElementProblem) []any {
		*probs = append(*probs, *p)
		res.Provenance = append(res.Provenance, Provenance{Element: el.name, Path: path, Raw: raw, Note: "error: " + p.Message})
		return vals
	}
	vals, prob := el.run(vals, root, ctx)
	if prob != nil {
		return fail(prob)
	}
	// Empty text counts as no value.
	n := 0
	for _, v := range vals {
		if s, ok := v.(string); ok && s == "" {
			continue
		}
		vals[n] = v
		n++
	}
	vals = vals[:n]

	if len(vals) == 0 {
		switch {
		case el.def != nil:
			el.put(res, el.name, el.def)
			res.Provenance = append(res.Provenance, Provenance{Element: el.name, Path: path, Raw: raw, Value: el.def, Note: "default"})
		case el.required:
			return fail(&ElementProblem{Element: el.name, Code: CodeMissingRequired,
				Message: fmt.Sprintf("%s: required, but %s gave no value (%s); fix the path or set a default", el.name, orText(path, "no path"), ctx)})
		default:
			res.Provenance = append(res.Provenance, Provenance{Element: el.name, Path: path, Raw: raw, Note: "no value, omitted"})
		}
		return vals
	}

	switch {
	case el.fanout:
		for i, v := range vals {
			name := el.prefix + strconv.Itoa(i+1) + el.suffix
			if i >= el.max {
				res.Provenance = append(res.Provenance, Provenance{Element: el.name, Path: path, Raw: raw,
					Note: fmt.Sprintf("%d more value(s) dropped: max is %d", len(vals)-el.max, el.max)})
				break
			}
			out, p := el.finish(v, name, ctx)
			if p != nil {
				fail(p)
				continue
			}
			el.put(res, name, out)
			res.Provenance = append(res.Provenance, Provenance{Element: name, Path: path, Raw: v, Value: out,
				Note: fmt.Sprintf("fan-out %d of %d", i+1, len(vals))})
		}
	case el.kind == KindMultiChoice:
		out := make([]any, 0, len(vals))
		for _, v := range vals {
			x, p := el.finish(v, el.name, ctx)
			if p != nil {
				return fail(p)
			}
			out = append(out, x)
		}
		el.put(res, el.name, out)
		res.Provenance = append(res.Provenance, Provenance{Element: el.name, Path: path, Raw: raw, Value: out})
	default:
		if len(vals) > 1 {
			return fail(&ElementProblem{Element: el.name, Code: CodeInvalidValue,
				Message: fmt.Sprintf(`%s: %s gave %d values but the element takes one (%s); add the first or join transform, or fan out with "{n}" in the name`,
					el.name, path, len(vals), ctx)})
		}
		out, p := el.finish(vals[0], el.name, ctx)
		if p != nil {
			return fail(p)
		}
		el.put(res, el.name, out)
		res.Provenance = append(res.Provenance, Provenance{Element: el.name, Path: path, Raw: raw, Value: out})
	}
	return vals
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// put writes a value to its target: a parameter, an index of an array
// parameter ($['X'][i]) or a nested field (macros).
func (el *element) put(res *Result, name string, v any) {
	if !el.inBody {
		return
	}
	if el.fanout {
		res.Body[name] = v
		return
	}
	if el.index >= 0 {
		key := el.keys[0]
		arr, _ := res.Body[key].([]any)
		for len(arr) <= el.index {
			arr = append(arr, nil)
		}
		arr[el.index] = v
		res.Body[key] = arr
		return
	}
	m := res.Body
	for _, k := range el.keys[:len(el.keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[el.keys[len(el.keys)-1]] = v
}

// ElementSpec describes one configured element: what a Centercode admin must
// define on the feedback form (the dev stack builds its simulator from these).
type ElementSpec struct {
	Name     string   // parameter name as configured ("Attachment {n}", "$['Images'][0]")
	Param    string   // body parameter ("Attachment {n}" stays a pattern; "Images" for the indexed form)
	Kind     string   // text, choice, multi_choice, attachment, email, number, date, rating
	Options  []string // choices
	Required bool
	FanOut   bool // Param contains {n}: numbered 1..Max
	Max      int
	Index    int // indexed form: the array index; -1 otherwise
	Scale    int // rating: highest value
	// Paths are the element's JSONPaths as written ("a | b" for a list),
	// "(template)" for a template-only element.
	Paths string
	// Target is the body key, dotted when nested (macros: custom_fields.severity).
	Target string
}

// ElementSpecs lists the body elements in config order.
func (m *Mapper) ElementSpecs() []ElementSpec {
	out := make([]ElementSpec, 0, len(m.elements))
	for _, el := range m.elements {
		if !el.inBody {
			continue
		}
		param := el.name
		if el.index >= 0 && len(el.keys) > 0 {
			param = el.keys[len(el.keys)-1]
		}
		out = append(out, ElementSpec{Name: el.name, Param: param, Kind: el.kind, Options: append([]string(nil), el.options...),
			Required: el.required, FanOut: el.fanout, Max: el.max, Index: el.index, Scale: el.scale,
			Paths: el.pathList, Target: strings.Join(el.keys, ".")})
	}
	return out
}
