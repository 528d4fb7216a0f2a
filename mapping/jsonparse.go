package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxJSONDepth bounds nesting so hostile input cannot exhaust the stack.
const maxJSONDepth = 512

// parseJSON decodes a JSON document into map[string]any / []any / string /
// int64 / float64 / bool / nil, like ojg does, but materialises only the
// members the mapper's paths can reach (nd); everything else is validated
// and skipped without allocating. A nil nd decodes everything.
//
// Strings share one private copy of the input (they are substrings of it),
// so a record costs one allocation for all its text instead of one per value.
func parseJSON(data []byte, nd *need) (any, error) {
	p := parserPool.Get().(*jparser)
	defer p.release()
	p.data, p.pos = append([]byte(nil), data...), 0
	p.ws()
	v, err := p.value(nd, 0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(p.data) {
		return nil, p.errf("unexpected %q after the JSON value", p.data[p.pos])
	}
	return v, nil
}

// parserPool recycles the scratch stacks; a parser holds no record data
// once released.
var parserPool = sync.Pool{New: func() any {
	return &jparser{stack: make([]any, 0, 64), keys: make([]string, 0, 64), kvals: make([]any, 0, 64)}
}}

func (p *jparser) release() {
	clear(p.stack[:cap(p.stack)])
	clear(p.keys[:cap(p.keys)])
	clear(p.kvals[:cap(p.kvals)])
	p.stack, p.keys, p.kvals = p.stack[:0], p.keys[:0], p.kvals[:0]
	p.data, p.strs = nil, nil
	parserPool.Put(p)
}

// emptyArray is shared by every empty JSON array: it has no capacity, so an
// append never writes into it.
var emptyArray any = []any{}

type jparser struct {
	data  []byte
	pos   int
	stack []any    // array items under construction, shared by nested arrays
	keys  []string // object keys under construction, parallel to kvals
	kvals []any
	strs  []string // chunk that string values are boxed from (see boxString)
}

// boxString returns s as an interface value whose data lives in a chunk of
// strings shared by the whole record, instead of one 16-byte allocation per
// value. The runtime stores a string in an interface as a pointer to its
// header; pointing it into the chunk is equivalent as long as the slot is
// never written again, which holds: chunks are only appended to.
func (p *jparser) boxString(s string) any {
	if len(p.strs) == cap(p.strs) {
		p.strs = make([]string, 0, 32)
	}
	p.strs = append(p.strs, s)
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ = stringType
	e.data = unsafe.Pointer(&p.strs[len(p.strs)-1])
	return v
}

type eface struct {
	typ, data unsafe.Pointer
}

var stringType = func() unsafe.Pointer {
	var v any = ""
	return (*eface)(unsafe.Pointer(&v)).typ
}()

func (p *jparser) errf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

var errEOF = errors.New("unexpected end of JSON")

func (p *jparser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses (skip == false) or validates and skips (skip == true) one value.
func (p *jparser) value(nd *need, depth int) (any, error) {
	return p.val(nd, depth, false)
}

func (p *jparser) val(nd *need, depth int, skip bool) (any, error) {
	if depth > maxJSONDepth {
		return nil, p.errf("nesting deeper than %d", maxJSONDepth)
	}
	if p.pos >= len(p.data) {
		return nil, errEOF
	}
	switch c := p.data[p.pos]; c {
	case '{':
		return p.object(nd, depth, skip)
	case '[':
		return p.array(nd, depth, skip)
	case '"':
		if skip {
			_, _, err := p.str(true)
			return nil, err
		}
		s, _, err := p.str(false)
		if err != nil {
			return nil, err
		}
		return p.boxString(s), nil
	case 't':
		return true, p.lit("true")
	case 'f':
		return false, p.lit("false")
	case 'n':
		return nil, p.lit("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number(skip)
		}
		return nil, p.errf("unexpected %q", c)
	}
}

func (p *jparser) lit(s string) error {
	if len(p.data)-p.pos < len(s) || string(p.data[p.pos:p.pos+len(s)]) != s {
		return p.errf("invalid literal (expected %s)", s)
	}
	p.pos += len(s)
	return nil
}

func (p *jparser) object(nd *need, depth int, skip bool) (any, error) {
	p.pos++ // {
	mark := len(p.keys)
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		if skip {
			return nil, nil
		}
		return map[string]any{}, nil
	}
	for {
		p.ws()
		if p.pos >= len(p.data) {
			return nil, errEOF
		}
		if p.data[p.pos] != '"' {
			return nil, p.errf("expected a string key")
		}
		start := p.pos + 1
		key, esc, err := p.str(true)
		if err != nil {
			return nil, err
		}
		end := p.pos - 1
		p.ws()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errf("expected ':' after a key")
		}
		p.pos++
		p.ws()
		// Decide whether this member is needed.
		var child *need
		want := !skip
		if want {
			if esc {
				key, _, _ = p.decodeAt(start - 1)
			} else {
				key = p.sub(start, end)
			}
			var drop bool
			child, drop = nd.member(key)
			want = !drop
		}
		v, err := p.val(child, depth+1, !want)
		if err != nil {
			return nil, err
		}
		if want {
			p.keys = append(p.keys, key)
			p.kvals = append(p.kvals, v)
		}
		p.ws()
		if p.pos >= len(p.data) {
			return nil, errEOF
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			if skip {
				return nil, nil
			}
			// Build the map at its final size: no rehashing while growing.
			m := make(map[string]any, len(p.keys)-mark)
			for i := mark; i < len(p.keys); i++ {
				m[p.keys[i]] = p.kvals[i]
			}
			clear(p.kvals[mark:])
			p.keys, p.kvals = p.keys[:mark], p.kvals[:mark]
			return m, nil
		default:
			return nil, p.errf("expected ',' or '}'")
		}
	}
}

func (p *jparser) array(nd *need, depth int, skip bool) (any, error) {
	p.pos++        // [
	var item *need // nil: whole items
	if nd != nil && !nd.all {
		item = nd.elem
	}
	mark := len(p.stack)
	p.ws()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		if skip {
			return nil, nil
		}
		return emptyArray, nil
	}
	for {
		p.ws()
		v, err := p.val(item, depth+1, skip)
		if err != nil {
			return nil, err
		}
		if !skip {
			p.stack = append(p.stack, v)
		}
		p.ws()
		if p.pos >= len(p.data) {
			return nil, errEOF
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			if skip {
				return nil, nil
			}
			// One exactly-sized allocation per array instead of append growth.
			a := make([]any, len(p.stack)-mark)
			copy(a, p.stack[mark:])
			clear(p.stack[mark:])
			p.stack = p.stack[:mark]
			return a, nil
		default:
			return nil, p.errf("expected ',' or ']'")
		}
	}
}

// str scans a string at p.pos. With skip it validates only and returns ""
// (esc tells whether it had escapes). Without skip it returns the value.
func (p *jparser) str(skip bool) (string, bool, error) {
	start := p.pos
	p.pos++
	esc := false
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if skip {
				return "", esc, nil
			}
			if !esc {
				return p.sub(start+1, p.pos-1), false, nil
			}
			s, _, err := p.decodeAt(start)
			return s, true, err
		case c == '\\':
			esc = true
			if p.pos+1 >= len(p.data) {
				return "", esc, errEOF
			}
			switch p.data[p.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos += 2
			case 'u':
				if p.pos+6 > len(p.data) || !isHex4(p.data[p.pos+2:p.pos+6]) {
					return "", esc, p.errf("invalid \\u escape")
				}
				p.pos += 6
			default:
				return "", esc, p.errf("invalid escape \\%c", p.data[p.pos+1])
			}
		case c < 0x20:
			return "", esc, p.errf("control character in string")
		default:
			p.pos++
		}
	}
	return "", esc, errEOF
}

// sub returns data[i:j] as a string without copying: p.data is a private
// copy that is never written after parsing starts.
func (p *jparser) sub(i, j int) string {
	if i >= j {
		return ""
	}
	return unsafe.String(&p.data[i], j-i)
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// decodeAt decodes the (already validated) string starting at the quote at i.
func (p *jparser) decodeAt(i int) (string, int, error) {
	b := make([]byte, 0, 32)
	i++
	for {
		c := p.data[i]
		switch c {
		case '"':
			return string(b), i + 1, nil
		case '\\':
			e := p.data[i+1]
			i += 2
			switch e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := rune(hex4(p.data[i : i+4]))
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(p.data) && p.data[i] == '\\' && p.data[i+1] == 'u' && isHex4(p.data[i+2:i+6]) {
						r2 = rune(hex4(p.data[i+2 : i+6]))
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default: // " \ /
				b = append(b, e)
			}
		default:
			b = append(b, c)
			i++
		}
	}
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c - 'a' + 10)
		default:
			v |= uint16(c - 'A' + 10)
		}
	}
	return v
}

// number parses a JSON number: int64 when it is an integer that fits,
// float64 otherwise.
func (p *jparser) number(skip bool) (any, error) {
	start := p.pos
	d := p.data
	i := p.pos
	if d[i] == '-' {
		i++
	}
	if i >= len(d) {
		return nil, errEOF
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return nil, p.errf("invalid number")
	}
	isInt := true
	if i < len(d) && d[i] == '.' {
		isInt = false
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			p.pos = i
			return nil, p.errf("invalid number")
		}
	}
	hasExp := false
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		isInt, hasExp = false, true
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			p.pos = i
			return nil, p.errf("invalid number")
		}
	}
	p.pos = i
	lit := d[start:i]
	if skip {
		// Skipped, but still refused where encoding/json refuses it: out of
		// float64's range, which needs an exponent or over 308 digits.
		if hasExp || len(lit) > 308 {
			if _, err := strconv.ParseFloat(string(lit), 64); err != nil {
				return nil, p.errf("number %s out of range", lit)
			}
		}
		return nil, nil
	}
	if isInt && len(lit) <= 18 {
		var n int64
		neg := lit[0] == '-'
		for _, c := range lit {
			if c != '-' {
				n = n*10 + int64(c-'0')
			}
		}
		if neg {
			n = -n
		}
		return n, nil
	}
	if isInt {
		if n, err := strconv.ParseInt(string(lit), 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, p.errf("number %s out of range", lit)
	}
	return f, nil
}
