package httpapi

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"
)

// sendJSON answers code with the JSON object {k1: v1, k2: v2}: the bytes
// c.JSON(fiber.Map{k1: v1, k2: v2}) writes (keys sorted, strings escaped as
// encoding/json escapes them, HTML characters included), built without a map,
// reflection or, for short answers, an allocation. k1 must sort before k2, and
// both be plain ASCII keys.
func sendJSON(c *fiber.Ctx, code int, k1, v1, k2, v2 string) error {
	var scratch [256]byte
	b := append(scratch[:0], `{"`...)
	b = append(b, k1...)
	b = append(b, `":`...)
	b = appendJSONString(b, v1)
	b = append(b, `,"`...)
	b = append(b, k2...)
	b = append(b, `":`...)
	b = appendJSONString(b, v2)
	b = append(b, '}')
	resp := c.Response()
	resp.SetStatusCode(code)
	resp.Header.SetContentType(fiber.MIMEApplicationJSON)
	resp.SetBody(b) // copies into the response's pooled buffer
	return nil
}

// appendJSONString appends s as json.Marshal writes a string. Printable ASCII
// other than " \ < > & is copied as it is; anything else (rare: ids and
// routes are ASCII) goes through json.Marshal itself, so the two never differ.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			q, err := json.Marshal(s)
			if err != nil { // cannot happen for a string
				return append(dst, `""`...)
			}
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
