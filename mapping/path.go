package mapping

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ohler55/ojg/jp"
)

// cpath is a JSONPath compiled once at load. Child/index chains, [*], ..
// and equality filters ($.a[?(@.key == 'x')].b) are walked directly,
// without allocating, and visit object members in key order so results are
// deterministic; anything else (slices, unions, other filters) goes through
// ojg/jp.
type cpath struct {
	src  string
	segs []seg // valid when fast
	fast bool
	expr jp.Expr
}

type segKind uint8

const (
	segKey segKind = iota
	segIdx
	segAll  // [*]
	segEq   // [?(@.a.b == lit)]
	segDesc // ..
)

type seg struct {
	kind  segKind
	key   string
	idx   int
	chain []string // segEq: @.a.b
	lit   any      // segEq: string or int64
}

// simpleFilter matches the filters the fast path understands.
var simpleFilter = regexp.MustCompile(`^\[\?\(@((?:\.[A-Za-z_][A-Za-z0-9_]*)+) == (?:'([^'\\]*)'|(-?[0-9]{1,15}))\)\]$`)

func compilePath(s string) (*cpath, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("JSONPath %q must start with $ (the record root), e.g. $.name", s)
	}
	x, err := jp.ParseString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid JSONPath %q: %v", s, err)
	}
	p := &cpath{src: s, expr: x, fast: true}
	for i, f := range x {
		switch v := f.(type) {
		case jp.Root:
			p.fast = p.fast && i == 0
		case jp.Bracket:
		case jp.Child:
			p.segs = append(p.segs, seg{kind: segKey, key: string(v)})
		case jp.Nth:
			p.segs = append(p.segs, seg{kind: segIdx, idx: int(v)})
		case jp.Wildcard:
			p.segs = append(p.segs, seg{kind: segAll})
		case jp.Descent:
			p.segs = append(p.segs, seg{kind: segDesc})
		case *jp.Filter:
			m := simpleFilter.FindStringSubmatch(v.String())
			if m == nil {
				p.fast = false
				break
			}
			sg := seg{kind: segEq, chain: strings.Split(m[1][1:], ".")}
			if m[3] != "" {
				n, _ := strconv.ParseInt(m[3], 10, 64)
				sg.lit = n
			} else {
				sg.lit = m[2]
			}
			p.segs = append(p.segs, sg)
		default:
			p.fast = false
		}
	}
	if !p.fast {
		p.segs = nil
	}
	return p, nil
}

// eval appends the values at the path, flattening one level of arrays and
// dropping nulls, so "$.tags" and "$.tags[*]" both yield the tags.
func (p *cpath) eval(root any, out []any) []any {
	if p.fast {
		return walk(root, p.segs, out)
	}
	for _, v := range p.expr.Get(root) {
		out = appendFlat(out, v)
	}
	return out
}

func walk(cur any, segs []seg, out []any) []any {
	for i := range segs {
		s := &segs[i]
		switch s.kind {
		case segKey:
			m, ok := cur.(map[string]any)
			if !ok {
				return out
			}
			if cur, ok = m[s.key]; !ok {
				return out
			}
		case segIdx:
			a, ok := cur.([]any)
			if !ok {
				return out
			}
			j := s.idx
			if j < 0 {
				j += len(a)
			}
			if j < 0 || j >= len(a) {
				return out
			}
			cur = a[j]
		case segDesc:
			return descend(cur, segs[i+1:], out)
		default: // segAll, segEq
			for _, x := range children(cur) {
				if s.kind == segAll || s.match(x) {
					out = walk(x, segs[i+1:], out)
				}
			}
			return out
		}
	}
	return appendFlat(out, cur)
}

// descend applies rest to cur and to every node below it, depth first.
func descend(cur any, rest []seg, out []any) []any {
	out = walk(cur, rest, out)
	for _, x := range children(cur) {
		out = descend(x, rest, out)
	}
	return out
}

// children lists array items, or object member values in key order.
func children(cur any) []any {
	switch t := cur.(type) {
	case []any:
		return t
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]any, len(keys))
		for i, k := range keys {
			vals[i] = t[k]
		}
		return vals
	}
	return nil
}

func (s *seg) match(x any) bool {
	for _, k := range s.chain {
		m, ok := x.(map[string]any)
		if !ok {
			return false
		}
		if x, ok = m[k]; !ok {
			return false
		}
	}
	switch lit := s.lit.(type) {
	case string:
		v, ok := x.(string)
		return ok && v == lit
	case int64:
		switch v := x.(type) {
		case int64:
			return v == lit
		case float64:
			return v == float64(lit)
		}
	}
	return false
}

func appendFlat(out []any, v any) []any {
	switch t := v.(type) {
	case nil:
		return out
	case []any:
		for _, x := range t {
			if x != nil {
				out = append(out, x)
			}
		}
		return out
	}
	return append(out, v)
}
