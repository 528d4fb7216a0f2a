package mapping

import (
	"fmt"
	"strings"

	"github.com/ohler55/ojg/jp"
)

// cpath is a JSONPath compiled once at load. Plain child/index chains
// ($.a.b[0].c, $['x y']) are walked directly without allocating; anything
// else (wildcards, filters, slices, descent, unions) goes through ojg/jp.
type cpath struct {
	src  string
	segs []seg   // fast path, when expr is nil
	expr jp.Expr // general path
}

type seg struct {
	key   string
	idx   int
	isIdx bool
}

func compilePath(s string) (*cpath, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("JSONPath %q must start with $ (the record root), e.g. $.name", s)
	}
	x, err := jp.ParseString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid JSONPath %q: %v", s, err)
	}
	p := &cpath{src: s}
	fast := true
	for i, f := range x {
		switch v := f.(type) {
		case jp.Root:
			if i != 0 {
				fast = false
			}
		case jp.Bracket:
		case jp.Child:
			p.segs = append(p.segs, seg{key: string(v)})
		case jp.Nth:
			p.segs = append(p.segs, seg{idx: int(v), isIdx: true})
		default:
			fast = false
		}
	}
	if !fast {
		p.segs = nil
		p.expr = x
	}
	return p, nil
}

// eval appends the values at the path, flattening one level of arrays and
// dropping nulls, so "$.tags" and "$.tags[*]" both yield the tags.
func (p *cpath) eval(root any, out []any) []any {
	if p.expr != nil {
		for _, v := range p.expr.Get(root) {
			out = appendFlat(out, v)
		}
		return out
	}
	cur := root
	for _, s := range p.segs {
		if s.isIdx {
			a, ok := cur.([]any)
			if !ok {
				return out
			}
			i := s.idx
			if i < 0 {
				i += len(a)
			}
			if i < 0 || i >= len(a) {
				return out
			}
			cur = a[i]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return out
		}
		if cur, ok = m[s.key]; !ok {
			return out
		}
	}
	return appendFlat(out, cur)
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

// need is the part of a record the compiled paths can reach; the JSON
// parser materialises only that, skipping the rest. A nil *need, or one
// with all set, means the whole subtree.
type need struct {
	all  bool
	kids map[string]*need
}

func (n *need) addPath(p *cpath) {
	if p.expr == nil {
		cur := n
		for _, s := range p.segs {
			if s.isIdx {
				break
			}
			cur = cur.kid(s.key)
			if cur.all {
				return
			}
		}
		cur.setAll()
		return
	}
	cur := n
	for i, f := range p.expr {
		switch v := f.(type) {
		case jp.Root:
			if i != 0 {
				cur.setAll()
				return
			}
		case jp.Bracket:
		case jp.Child:
			cur = cur.kid(string(v))
			if cur.all {
				return
			}
		default:
			cur.setAll()
			return
		}
	}
	cur.setAll()
}

func (n *need) kid(k string) *need {
	if n.kids == nil {
		n.kids = map[string]*need{}
	}
	c := n.kids[k]
	if c == nil {
		c = &need{}
		n.kids[k] = c
	}
	return c
}

func (n *need) setAll() {
	n.all = true
	n.kids = nil
}
