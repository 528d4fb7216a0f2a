package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// maxConfigBytes and maxConfigNodes bound the work a config file can cause
// (a YAML alias bomb expands exponentially when walked).
const (
	maxConfigBytes = 4 << 20
	maxConfigNodes = 200_000
	maxConfigDepth = 64
)

type nodeKind uint8

const (
	nScalar nodeKind = iota
	nMap
	nSeq
	nNull
)

// node is a YAML value with its position, independent of the YAML library.
type node struct {
	kind      nodeKind
	line, col int
	raw       string   // scalar text as written (before ${} expansion)
	val       string   // scalar text after ${} expansion
	str       bool     // the scalar was a YAML string (quoted, block or plain text)
	unset     []string // ${VAR}s left unset (only with LoadOptions.AllowUnsetEnv)
	keys      []*node  // mapping keys, in order
	vals      []*node  // mapping values, parallel to keys
	items     []*node  // sequence items
	size      int      // nodes in the expanded subtree (aliases counted in full)
}

func (n *node) what() string {
	switch n.kind {
	case nMap:
		return "a mapping"
	case nSeq:
		return "a list"
	case nNull:
		return "empty"
	}
	return "a scalar"
}

// canonical appends a stable JSON rendering of the unexpanded tree (keys
// sorted, comments and layout ignored); Config.Hash is its sha256.
func (n *node) canonical(b []byte) []byte {
	switch n.kind {
	case nNull:
		return append(b, "null"...)
	case nScalar:
		return appendJSONString(b, n.raw)
	case nSeq:
		b = append(b, '[')
		for i, it := range n.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = it.canonical(b)
		}
		return append(b, ']')
	}
	idx := make([]int, len(n.keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, c int) bool { return n.keys[idx[a]].raw < n.keys[idx[c]].raw })
	b = append(b, '{')
	for i, k := range idx {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, n.keys[k].raw)
		b = append(b, ':')
		b = n.vals[k].canonical(b)
	}
	return append(b, '}')
}

func hashNode(n *node) string {
	sum := sha256.Sum256(n.canonical(nil))
	return hex.EncodeToString(sum[:])
}

// yamlReader turns a goccy/go-yaml AST into nodes, expanding ${VAR}.
type yamlReader struct {
	d       *decoder
	env     func(string) (string, bool)
	lenient bool
	anchors map[string]*node
	total   int
	unset   map[string]bool
}

func parseYAML(d *decoder, data []byte, env func(string) (string, bool), lenient bool) (root *node, unset []string) {
	if len(data) > maxConfigBytes {
		d.errAt(1, 1, "", "file is larger than %d bytes", maxConfigBytes)
		return nil, nil
	}
	f, err := safeParse(data)
	if err != nil {
		line, col := 1, 1
		msg := err.Error()
		if l, c, m, ok := yamlErrPos(err); ok {
			line, col, msg = l, c, m
		}
		d.errAt(line, col, "", "invalid YAML: %s", msg)
		return nil, nil
	}
	r := &yamlReader{d: d, env: env, lenient: lenient, anchors: map[string]*node{}, unset: map[string]bool{}}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			p := pos(doc.Body)
			d.errAt(p.line, p.col, "", "only one YAML document is allowed")
			break
		}
		body = doc.Body
	}
	if body == nil {
		return &node{kind: nNull, line: 1, col: 1}, nil
	}
	root = r.convert(body, 0)
	if root == nil {
		return nil, nil
	}
	for v := range r.unset {
		unset = append(unset, v)
	}
	sort.Strings(unset)
	return root, unset
}

// safeParse guards against parser panics on hostile input (seen in fuzzing
// of YAML parsers); a panic becomes an ordinary parse error.
func safeParse(data []byte) (f *ast.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parser failed: %v", p)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// yamlErrPos extracts "[line:col] message" from goccy errors.
func yamlErrPos(err error) (line, col int, msg string, ok bool) {
	s := err.Error()
	if !strings.HasPrefix(s, "[") {
		return 0, 0, "", false
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return 0, 0, "", false
	}
	lc := strings.SplitN(s[1:end], ":", 2)
	if len(lc) != 2 {
		return 0, 0, "", false
	}
	l, e1 := strconv.Atoi(lc[0])
	c, e2 := strconv.Atoi(lc[1])
	if e1 != nil || e2 != nil {
		return 0, 0, "", false
	}
	msg = strings.TrimSpace(s[end+1:])
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return l, c, msg, true
}

type position struct{ line, col int }

func pos(n ast.Node) position {
	if n == nil {
		return position{1, 1}
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		return pos(m.Values[0].Key)
	}
	if m, ok := n.(*ast.MappingValueNode); ok {
		return pos(m.Key)
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return position{1, 1}
	}
	return position{t.Position.Line, t.Position.Column}
}

func (r *yamlReader) convert(an ast.Node, depth int) *node {
	p := pos(an)
	if depth > maxConfigDepth {
		r.d.errAt(p.line, p.col, "", "nesting deeper than %d levels", maxConfigDepth)
		return nil
	}
	r.total++
	if r.total > maxConfigNodes {
		if r.total == maxConfigNodes+1 {
			r.d.errAt(p.line, p.col, "", "document has more than %d values", maxConfigNodes)
		}
		return nil
	}
	n := &node{line: p.line, col: p.col, size: 1}
	switch v := an.(type) {
	case nil:
		n.kind = nNull
	case *ast.NullNode:
		n.kind = nNull
	case *ast.DocumentNode:
		return r.convert(v.Body, depth)
	case *ast.MappingNode:
		n.kind = nMap
		for _, mv := range v.Values {
			if !r.addEntry(n, mv, depth) {
				return nil
			}
		}
	case *ast.MappingValueNode:
		n.kind = nMap
		if !r.addEntry(n, v, depth) {
			return nil
		}
	case *ast.MappingKeyNode:
		return r.convert(v.Value, depth+1)
	case *ast.SequenceNode:
		n.kind = nSeq
		for _, it := range v.Values {
			c := r.convert(it, depth+1)
			if c == nil {
				return nil
			}
			n.items = append(n.items, c)
			n.size += c.size
		}
	case *ast.StringNode:
		r.scalar(n, v.Value, true)
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		r.scalar(n, s, true)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		r.scalar(n, an.GetToken().Value, false)
	case *ast.AnchorNode:
		c := r.convert(v.Value, depth+1)
		if c == nil {
			return nil
		}
		if v.Name != nil {
			r.anchors[v.Name.GetToken().Value] = c
		}
		return c
	case *ast.AliasNode:
		name := ""
		if v.Value != nil && v.Value.GetToken() != nil {
			name = v.Value.GetToken().Value
		}
		c := r.anchors[name]
		if c == nil {
			r.d.errAt(p.line, p.col, "", "unknown alias *%s", name)
			return nil
		}
		r.total += c.size
		if r.total > maxConfigNodes {
			r.d.errAt(p.line, p.col, "", "aliases expand to more than %d values", maxConfigNodes)
			return nil
		}
		return c
	case *ast.TagNode:
		c := r.convert(v.Value, depth+1)
		if c != nil && v.Start != nil && v.Start.Value == "!!str" && c.kind == nScalar {
			c.str = true
		}
		return c
	default:
		r.d.errAt(p.line, p.col, "", "unsupported YAML construct %T", an)
		return nil
	}
	return n
}

func (r *yamlReader) addEntry(m *node, mv *ast.MappingValueNode, depth int) bool {
	if mv == nil {
		return true
	}
	val := r.convert(mv.Value, depth+1)
	if val == nil {
		return false
	}
	if mv.Key != nil && mv.Key.IsMergeKey() {
		if val.kind != nMap {
			p := pos(mv.Key)
			r.d.errAt(p.line, p.col, "", "merge key << needs a mapping")
			return true
		}
		for i, k := range val.keys {
			if m.index(k.val) < 0 {
				m.keys = append(m.keys, k)
				m.vals = append(m.vals, val.vals[i])
				m.size += val.vals[i].size
			}
		}
		return true
	}
	key := r.convert(mv.Key, depth+1)
	if key == nil {
		return false
	}
	if key.kind == nNull {
		key.kind, key.raw, key.val = nScalar, "", ""
	}
	if key.kind != nScalar {
		r.d.errAt(key.line, key.col, "", "mapping keys must be plain text, not %s", key.what())
		return true
	}
	m.keys = append(m.keys, key)
	m.vals = append(m.vals, val)
	m.size += val.size + 1
	return true
}

func (m *node) index(key string) int {
	for i, k := range m.keys {
		if k.val == key {
			return i
		}
	}
	return -1
}

func (r *yamlReader) scalar(n *node, s string, str bool) {
	n.kind, n.raw, n.str = nScalar, s, str
	if !strings.Contains(s, "${") {
		n.val = s
		return
	}
	out, unset, err := expandEnv(s, r.env)
	if err != "" {
		r.d.errAt(n.line, n.col, "", "%s", err)
	}
	if len(unset) > 0 {
		if !r.lenient {
			for _, v := range unset {
				r.d.errAt(n.line, n.col, "", "environment variable %s is not set (use ${%s:-default} for an optional value)", v, v)
			}
		} else {
			n.unset = unset
			for _, v := range unset {
				r.unset[v] = true
			}
		}
	}
	n.val = out
}

// expandEnv replaces ${VAR} and ${VAR:-default}; "$${" stands for a literal
// "${". It returns the names of unset variables that have no default.
func expandEnv(s string, env func(string) (string, bool)) (out string, unset []string, errMsg string) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return s, nil, fmt.Sprintf("unterminated ${ in %q", redactRef(s))
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return s, nil, fmt.Sprintf("invalid variable reference ${%s}: names are letters, digits and _", name)
		}
		v, ok := env(name)
		switch {
		case ok && v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		case ok:
			// set but empty: an explicit empty value
		default:
			unset = append(unset, name)
		}
		i += end + 1
	}
	return b.String(), unset, ""
}

// redactRef shortens a scalar for an error message without echoing secrets
// (it only ever contains the unexpanded text, which names variables).
func redactRef(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
