package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/ohler55/ojg"
	"github.com/ohler55/ojg/oj"
)

// parsers recycles ojg parsers (a parser keeps its scratch buffers between
// records; it is not safe for concurrent use).
var parsers = sync.Pool{New: func() any { return &oj.Parser{} }}

// parseRecord decodes a JSON record with ojg into map[string]any / []any /
// string / int64 / float64 / bool / nil. Numbers beyond int64 become float64,
// as with encoding/json. Records reach the mapper already checked by
// encoding/json (the Aha! client and the webhook handlers decode their
// envelopes), so ojg's leniencies — a member without a value (`{"a":}`) is
// dropped, a number beyond float64 becomes ±Inf — never meet a real record.
func parseRecord(data []byte) (v any, err error) {
	if hasSurrogateEscape(data) {
		// ojg v1.28.5 turns each half of an escaped UTF-16 surrogate pair
		// ("\ud83d\ude00", how .NET and ensure_ascii encoders write emoji)
		// into U+FFFD; encoding/json joins them.
		err = json.Unmarshal(data, &v)
		return v, err
	}
	p := parsers.Get().(*oj.Parser)
	defer func() {
		// ojg v1.28.5 panics on some malformed input (`{"":f,"":""0`: a nil
		// map); that is an invalid record, and the parser is not reused.
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("invalid JSON (%v)", r)
			return
		}
		parsers.Put(p)
	}()
	return p.Parse(data, ojg.NumConvFloat64)
}

// hasSurrogateEscape reports whether data holds a \uD800–\uDFFF escape.
func hasSurrogateEscape(data []byte) bool {
	for {
		i := bytes.Index(data, []byte(`\u`))
		if i < 0 || i+3 > len(data)-1 {
			return false
		}
		if c, d := data[i+2]|0x20, data[i+3]|0x20; c == 'd' && d >= '8' && d <= 'f' && (d <= '9' || d >= 'a') {
			return true
		}
		data = data[i+2:]
	}
}
