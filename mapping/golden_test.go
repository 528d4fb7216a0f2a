package mapping

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGoldenOpenAPIExamples maps every idea, feature and people record among
// the OpenAPI response examples with the example config and compares the
// bodies with the checked-in golden files.
func TestGoldenOpenAPIExamples(t *testing.T) {
	cfg := loadExample(t)
	recs := openAPIRecords(t)
	counts := map[string]int{}
	for _, r := range recs {
		counts[r.Kind]++
	}
	// Guards the walker (the file holds 24 idea and 21 feature records today).
	require.GreaterOrEqual(t, counts[KindIdea], 20, "idea examples found")
	require.GreaterOrEqual(t, counts[KindFeature], 15, "feature examples found")
	require.GreaterOrEqual(t, counts[KindIdeaUser], 5, "idea user examples found")

	mapped := 0
	for _, r := range recs {
		type target struct {
			name string
			m    *Mapper
		}
		var targets []target
		for _, ft := range cfg.FeedbackTypesFor(r.Kind) {
			targets = append(targets, target{ft.Name, ft.Mapper})
		}
		if cfg.UserData.Accepts(r.Kind) {
			targets = append(targets, target{"user_data", cfg.UserData.Mapper})
		}
		for _, tg := range targets {
			t.Run(tg.name+"/"+r.Name, func(t *testing.T) {
				res, err := tg.m.Map(r.JSON)
				require.NoError(t, err)
				require.NotEmpty(t, res.Reference, "every record has a reference")
				assert.Len(t, res.Hash, 64)

				// The pruning parser and a full encoding/json decode agree.
				var full any
				dec := json.NewDecoder(bytes.NewReader(r.JSON))
				dec.UseNumber()
				require.NoError(t, dec.Decode(&full))
				res2, err := tg.m.MapValue(normalizeNumbers(full))
				require.NoError(t, err)
				assert.Equal(t, string(res.JSON), string(res2.JSON))

				var pretty bytes.Buffer
				require.NoError(t, json.Indent(&pretty, res.JSON, "", "  "))
				pretty.WriteByte('\n')
				file := filepath.Join("testdata", "golden", tg.name, r.Name+".json")
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
					require.NoError(t, os.WriteFile(file, pretty.Bytes(), 0o644))
					return
				}
				want, err := os.ReadFile(file)
				require.NoError(t, err, "missing golden file; run go test ./mapping -run Golden -update")
				assert.Equal(t, string(want), pretty.String())
			})
			mapped++
		}
	}
	require.Greater(t, mapped, 50)
}

// normalizeNumbers turns json.Number into int64/float64 as ojg would.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalizeNumbers(x)
		}
	case []any:
		for i, x := range t {
			t[i] = normalizeNumbers(x)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}
