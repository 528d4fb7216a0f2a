package aha

import "testing"

// benchPayload is a webhook body as the benchmarks and the load tool send it:
// string ids, null user, an integer change value.
const benchPayload = `{"event":"audit","audit":{"id":"6543581008138760991","audit_action":"update","created_at":"2026-11-27T10:00:00.000Z",` +
	`"interesting":true,"user":null,"auditable_type":"ideas/idea","auditable_id":"8999999999999999999",` +
	`"description":"updated idea","auditable_url":"https://example.aha.io/ideas/ideas/PRJ1-I-1","changes":[{"field_name":"Votes","value":3}]}}`

func BenchmarkParseWebhook(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"bench", benchPayload}, // what ahacc-bench posts
		{"documented", docPayload},
	} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				p, err := ParseWebhook(body)
				if err != nil || p.Audit.ID == "" {
					b.Fatal(p, err)
				}
			}
		})
	}
}
