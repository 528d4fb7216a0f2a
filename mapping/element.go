package mapping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Element kinds (the Centercode form element the value goes to).
const (
	KindText        = "text"
	KindChoice      = "choice"
	KindMultiChoice = "multi_choice"
	KindAttachment  = "attachment"
	KindEmailValue  = "email"
	KindNumber      = "number"
	KindDate        = "date"
	KindRating      = "rating"
)

var elementKinds = []string{KindText, KindChoice, KindMultiChoice, KindAttachment, KindEmailValue, KindNumber, KindDate, KindRating}

type targetMode uint8

const (
	targetFlat   targetMode = iota // Centercode parameter names, with {n} fan-out and $['x'][i]
	targetNested                   // Aha! fields; dots nest: custom_fields.severity
)

// element is one compiled parameter of a body.
type element struct {
	name     string   // as written in the config
	keys     []string // body key (nested for macros)
	index    int      // $['X'][i] form: array index; -1 otherwise
	fanout   bool     // name contains {n}
	prefix   string   // fan-out name before {n}
	suffix   string   // fan-out name after {n}
	max      int      // fan-out limit
	paths    []*cpath // first path that yields a value wins
	kind     string
	required bool
	def      any // default value (already kind-checked), nil if none
	options  []string
	optSet   map[string]struct{}
	scale    int
	steps    []step
	hasMap   bool
	inBody   bool // false for the implicit macro feedback id
	pathList string
}

var indexedName = regexp.MustCompile(`^\$\[\s*(?:'([^']+)'|"([^"]+)")\s*\]\[\s*(\d+)\s*\]$`)

// compileMapper compiles the elements mapping at path.
func compileMapper(d *decoder, n *node, path, ctx string, mode targetMode) *Mapper {
	m := &Mapper{context: ctx}
	extra := []string(nil)
	if strings.HasPrefix(path, "user_data") {
		extra = []string{"label"}
	}
	f := d.object(n, path)
	keys, vals := f.entries()
	for i, k := range keys {
		if m.has(k.val) {
			continue // duplicate key, already reported
		}
		el := compileElement(d, k, vals[i], join(path, k.val), ctx, mode, extra)
		if el == nil {
			continue
		}
		m.elements = append(m.elements, el)
	}
	m.checkTargets(d, keys, path)
	return m
}

func (m *Mapper) has(name string) bool {
	for _, el := range m.elements {
		if el.name == name {
			return true
		}
	}
	return false
}

// checkTargets rejects two elements writing to the same body parameter.
func (m *Mapper) checkTargets(d *decoder, keys []*node, path string) {
	owner := map[string]string{}
	nodeOf := func(name string) *node {
		for _, k := range keys {
			if k.val == name {
				return k
			}
		}
		return nil
	}
	claim := func(target, name string) {
		if prev, ok := owner[target]; ok && prev != name {
			d.errf(nodeOf(name), join(path, name), "writes the same parameter as %q", prev)
			return
		}
		owner[target] = name
	}
	for _, el := range m.elements {
		switch {
		case el.fanout:
			for i := 1; i <= el.max; i++ {
				claim(el.prefix+strconv.Itoa(i)+el.suffix, el.name)
			}
		case el.index >= 0:
			claim(fmt.Sprintf("%s[%d]", el.keys[0], el.index), el.name)
			owner["\x00array:"+el.keys[0]] = el.name
		default:
			claim(strings.Join(el.keys, "."), el.name)
		}
	}
	for _, el := range m.elements {
		// A plain parameter and an indexed array of the same name collide.
		if el.index < 0 && !el.fanout {
			if prev, ok := owner["\x00array:"+strings.Join(el.keys, ".")]; ok {
				d.errf(nodeOf(el.name), join(path, el.name), "writes the same parameter as %q", prev)
			}
		}
		// custom_fields and custom_fields.x collide in nested bodies.
		for i := 1; i < len(el.keys); i++ {
			if prev, ok := owner[strings.Join(el.keys[:i], ".")]; ok {
				d.errf(nodeOf(el.name), join(path, el.name), "is inside %q, which is set as a whole", prev)
			}
		}
	}
}

// addImplicit adds an element that the config describes by paths only
// (user data "email", macro feedback id). An empty name keeps it out of the body.
func (m *Mapper) addImplicit(d *decoder, name string, paths []string, kind string, n *node, path string) {
	el := &element{name: name, keys: []string{name}, index: -1, kind: kind, required: true, inBody: name != ""}
	for i, s := range paths {
		p, err := compilePath(s)
		if err != nil {
			d.errf(n, fmt.Sprintf("%s[%d]", path, i), "%v", err)
			continue
		}
		el.paths = append(el.paths, p)
	}
	el.pathList = pathList(el.paths)
	if name == "" {
		el.name = "feedback id"
		m.refEl = el
		return
	}
	m.elements = append([]*element{el}, m.elements...)
}

func pathList(ps []*cpath) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.src
	}
	return strings.Join(s, " | ")
}

func compileElement(d *decoder, k, n *node, path, ctx string, mode targetMode, extra []string) *element {
	allowed := append([]string{"path", "kind", "required", "default", "options", "scale", "max", "transforms", "map", "fallback"}, extra...)
	el := &element{name: k.val, index: -1, inBody: true}
	// A bare string is shorthand for {path: ...}.
	if n != nil && n.kind == nScalar {
		n = &node{kind: nMap, line: n.line, col: n.col, keys: []*node{{kind: nScalar, val: "path", raw: "path", line: n.line, col: n.col}}, vals: []*node{n}}
	}
	f := d.object(n, path, allowed...)
	if f.n == nil && n == nil {
		d.errf(k, path, "needs at least a path")
		return nil
	}
	el.compileTarget(d, k, path, mode)
	el.compilePaths(d, f)
	el.compileKind(d, f, k)
	hasTemplate := el.compileSteps(d, f)
	el.compileDefault(d, f, ctx)
	if len(el.paths) == 0 && hasTemplate {
		el.pathList = "(template)"
	}
	if f.get("path") == nil && !hasTemplate && el.def == nil {
		d.errf(k, path, "needs a path, a template transform or a default")
	}
	if el.fanout && (el.kind == KindMultiChoice) {
		d.errf(k, path, "a multi_choice element cannot fan out")
	}
	return el
}

// compileTarget reads where the value goes from the element's name: nested
// field names (a.b), an indexed name (Tag 2) or a fan-out (Attachment {n}).
func (el *element) compileTarget(d *decoder, k *node, path string, mode targetMode) {
	name := strings.TrimSpace(k.val)
	if name == "" {
		d.errf(k, path, "element name is empty")
	}
	if mode == targetNested {
		el.keys = strings.Split(name, ".")
		for _, p := range el.keys {
			if p == "" {
				d.errf(k, path, "field name %q has an empty part", name)
				break
			}
		}
		return
	}
	switch m := indexedName.FindStringSubmatch(name); {
	case m != nil:
		key := m[1] + m[2]
		idx, _ := strconv.Atoi(m[3])
		if idx > 999 {
			d.errf(k, path, "index %d is too large (at most 999)", idx)
		}
		el.keys, el.index = []string{key}, idx
	case strings.Contains(name, "{n}"):
		el.fanout = true
		el.prefix, el.suffix, _ = strings.Cut(name, "{n}")
		if strings.Contains(el.suffix, "{n}") {
			d.errf(k, path, "{n} may appear only once in a name")
		}
		el.keys = []string{name}
	default:
		el.keys = []string{name}
	}
}

// compilePaths compiles the element's JSONPath(s), in order of preference.
func (el *element) compilePaths(d *decoder, f *fields) {
	if pn := f.get("path"); pn != nil {
		for i, s := range d.strList(pn, f.at("path")) {
			p, err := compilePath(s)
			if err != nil {
				pp := f.at("path")
				if pn.kind == nSeq {
					pp = fmt.Sprintf("%s[%d]", pp, i)
					pn = pn.items[i]
				}
				d.errf(pn, pp, "%v", err)
				continue
			}
			el.paths = append(el.paths, p)
		}
	}
	el.pathList = pathList(el.paths)
}

// compileKind reads the kind and what depends on it: required, options
// (choice kinds), scale (rating), max (fan-out).
func (el *element) compileKind(d *decoder, f *fields, k *node) {
	el.kind = f.str("kind")
	if el.kind == "" {
		el.kind = KindText
	} else if !contains(elementKinds, el.kind) {
		d.errf(f.get("kind"), f.at("kind"), "unknown kind %q (one of %s)", el.kind, strings.Join(elementKinds, ", "))
		el.kind = KindText
	}
	el.required = f.boolean("required", false)
	if on := f.get("options"); on != nil {
		el.options = d.strList(on, f.at("options"))
		el.optSet = make(map[string]struct{}, len(el.options))
		for _, o := range el.options {
			el.optSet[o] = struct{}{}
		}
		if el.kind != KindChoice && el.kind != KindMultiChoice {
			d.errf(on, f.at("options"), "only applies to kind choice or multi_choice (kind is %s)", el.kind)
		}
	} else if el.kind == KindChoice || el.kind == KindMultiChoice {
		d.errf(orNode(f.get("kind"), k), f.at("options"), "a %s element needs options: the exact choices of the Centercode element", el.kind)
	}
	el.scale = f.integer("scale", 5, 1, 100)
	if f.get("scale") != nil && el.kind != KindRating {
		d.errf(f.get("scale"), f.at("scale"), "only applies to kind rating")
	}
	el.max = f.integer("max", 10, 1, 100)
	if f.get("max") != nil && !el.fanout {
		d.errf(f.get("max"), f.at("max"), `only applies to fan-out elements (put "{n}" in the name, e.g. "Attachment {n}")`)
	}
}

// compileSteps compiles the transforms, then the element-level map/fallback
// shorthand; a date element without a date_format gets the ISO date. It
// reports whether a template step computes the value.
func (el *element) compileSteps(d *decoder, f *fields) (hasTemplate bool) {
	if tn := f.get("transforms"); tn != nil {
		if tn.kind != nSeq {
			d.errf(tn, f.at("transforms"), "must be a list, e.g. [html_to_text, trim]")
		} else {
			for i, it := range tn.items {
				if s, ok := compileStep(d, it, fmt.Sprintf("%s[%d]", f.at("transforms"), i)); ok {
					el.steps = append(el.steps, s)
				}
			}
		}
	}
	if mn := f.get("map"); mn != nil {
		if s, ok := compileMapStep(d, mn, f.get("fallback"), f.at("map"), f.at("fallback")); ok {
			el.steps = append(el.steps, s)
		}
	} else if fb := f.get("fallback"); fb != nil {
		d.errf(fb, f.at("fallback"), "only applies together with map:")
	}
	hasDate := false
	for _, s := range el.steps {
		hasDate = hasDate || s.op == opDateFormat
		hasTemplate = hasTemplate || s.op == opTemplate
		el.hasMap = el.hasMap || s.op == opMap
	}
	if el.kind == KindDate && !hasDate {
		el.steps = append(el.steps, step{op: opDateFormat, layout: "2006-01-02"})
	}
	return hasTemplate
}

// compileDefault checks the default against the kind and options now, not
// at send time.
func (el *element) compileDefault(d *decoder, f *fields, ctx string) {
	dn := f.get("default")
	if dn == nil {
		return
	}
	if dn.kind != nScalar {
		d.errf(dn, f.at("default"), "must be a single value")
		return
	}
	v, prob := el.finish(dn.val, el.name, ctx)
	if prob != nil {
		d.errf(dn, f.at("default"), "%s", strings.TrimPrefix(prob.Message, el.name+": "))
		return
	}
	el.def = v
}
