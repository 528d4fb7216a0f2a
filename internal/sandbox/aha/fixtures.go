package aha

//go:generate go run ./fixtures/gen

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
)

//go:embed fixtures/*.json
var fixtureFS embed.FS

// fixture returns a fresh deep copy of fixtures/<name>.json, numbers kept as json.Number.
func fixture(name string) map[string]any {
	b, err := fixtureFS.ReadFile("fixtures/" + name + ".json")
	if err != nil {
		panic(fmt.Sprintf("aha sim: fixture %s: %v", name, err))
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		panic(fmt.Sprintf("aha sim: fixture %s: %v", name, err))
	}
	return m
}

// fixtureKeys returns the top-level keys of a fixture (used for compact list items).
func fixtureKeys(name string) []string {
	m := fixture(name)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// deepCopy copies a JSON tree.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
