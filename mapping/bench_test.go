package mapping

import (
	"encoding/json"
	"testing"
)

// largestIdea returns the largest single-idea OpenAPI example.
func largestIdea(b *testing.B) []byte {
	var best []byte
	for _, r := range openAPIRecords(b) {
		if r.Kind == KindIdea && len(r.JSON) > len(best) {
			best = r.JSON
		}
	}
	return best
}

// BenchmarkMapIdea maps the largest OpenAPI idea example with the example
// config's "bugs" type, JSON parse included (target ≤ 25 µs, ≤ 60 allocs).
func BenchmarkMapIdea(b *testing.B) {
	cfg := loadExample(b)
	m := cfg.FeedbackType("bugs")
	rec := largestIdea(b)
	if _, err := m.Map(rec); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalIdeaBaseline is the cost of encoding/json decoding the
// same record into map[string]any, for comparison.
func BenchmarkUnmarshalIdeaBaseline(b *testing.B) {
	rec := largestIdea(b)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.Unmarshal(rec, &v); err != nil {
			b.Fatal(err)
		}
	}
}
