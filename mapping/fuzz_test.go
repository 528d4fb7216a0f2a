package mapping

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"
)

// FuzzLoad: any input either loads or returns a *ConfigError whose problems
// all carry a position; never a panic, and quickly.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(minimal("      Title: $.name\n")))
	f.Add([]byte(minimal("      Severity:\n        path: $.s\n        kind: choice\n        options: [A]\n        map: {P1: A}\n        default: A\n")))
	f.Add([]byte("aha: {base_url: ${X:-https://a.b}, api_key: ${K:-k}}\nfeedback_types: {b: {source_url: 'https://c/d', record_types: [idea], elements: {\"A {n}\": {path: '$..x', max: 2}}}}\n"))
	f.Add([]byte("a: &a [x]\nb: [*a, *a]\n<<: *a\n"))
	f.Add([]byte("- [\n"))
	f.Add([]byte("key: \"\\x\"\n"))
	env := lookup(testEnv)
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		cfg, err := LoadWithOptions("fuzz.yaml", data, LoadOptions{LookupEnv: env, AllowUnsetEnv: len(data)%2 == 0})
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Load took %s", d)
		}
		if err == nil {
			if len(cfg.Hash()) != 64 {
				t.Fatalf("bad hash %q", cfg.Hash())
			}
			// Whatever loaded must map arbitrary records without panicking.
			for _, n := range cfg.FeedbackTypeNames() {
				_, _ = cfg.FeedbackType(n).Map([]byte(`{"name": "x", "a": [1, {"b": null}], "c": {"d": "e"}}`))
			}
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("want *ConfigError with problems, got %T %v", err, err)
		}
		for _, p := range ce.Problems {
			if p.Line < 1 || p.Column < 1 || p.File != "fuzz.yaml" || p.Message == "" {
				t.Fatalf("problem without a position: %+v", p)
			}
		}
	})
}

// FuzzMap: any input maps or fails with a *ValidationError, never panics,
// in bounded time; and the pruning parser accepts exactly the JSON objects
// encoding/json accepts.
func FuzzMap(f *testing.F) {
	for _, r := range openAPIRecords(f) {
		if r.Kind == KindIdea || r.Kind == KindFeature {
			f.Add(r.JSON)
		}
	}
	for _, s := range []string{`{}`, `[]`, `null`, `{"name": "\ud800"}`, `{"tags": [[["x"]]]}`, `{"custom_fields": {"a": {"key": "severity", "value": "P0"}}}`,
		`{"name": 1e999}`, `{"": 1e700}`, `{"x": [-1e-999, 2E+308]}`, `{"votes": -0.0e-5}`, `{"a":` + string(make([]byte, 0)) + `}`, `{"description": {"body": "<p>&#x1F600;<ul><li>"}}`} {
		f.Add([]byte(s))
	}
	cfg := loadExample(f)
	mappers := []*Mapper{cfg.FeedbackType("bugs").Mapper, cfg.FeedbackType("features").Mapper, cfg.UserData.Mapper, cfg.Macro("push-to-aha").Mapper}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		for _, m := range mappers {
			res, err := m.Map(data)
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) || len(ve.Problems) == 0 {
					t.Fatalf("want *ValidationError, got %T %v", err, err)
				}
			}
			if res != nil && !json.Valid(res.JSON) {
				t.Fatalf("body is not valid JSON: %q", res.JSON)
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Map took %s", d)
		}
		// Differential check against encoding/json: what it accepts, ojg
		// accepts and maps to the same body (ojg's leniencies on input
		// encoding/json refuses are named in parseRecord).
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		for _, m := range mappers {
			got, gotErr := m.Map(data)
			want, wantErr := m.MapValue(v)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%s: Map err=%v, MapValue(encoding/json) err=%v for %q", m.Context(), gotErr, wantErr, data)
			}
			if got != nil && want != nil && !sameJSON(got.JSON, want.JSON) {
				t.Fatalf("%s: Map gave %s, MapValue(encoding/json) %s for %q", m.Context(), got.JSON, want.JSON, data)
			}
		}
	})
}

// sameJSON compares two bodies as values: invalid UTF-8 in a record comes out
// as a \ufffd escape through ojg and as U+FFFD itself through encoding/json.
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
