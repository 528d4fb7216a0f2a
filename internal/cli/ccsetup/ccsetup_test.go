package ccsetup

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exampleConfig = "../../../examples/ahacc.yaml"

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// The README's setup section shows this command's output for the example
// config; they must not drift apart.
func TestREADMEShowsTheOutputForTheExample(t *testing.T) {
	code, out, errs := run("--config", exampleConfig)
	require.Zero(t, code, errs)
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "<!-- centercode-setup:begin")
	require.True(t, ok, "README has no centercode-setup block")
	_, rest, _ = strings.Cut(rest, "-->\n")
	block, _, ok := strings.Cut(rest, "<!-- centercode-setup:end -->")
	require.True(t, ok)
	assert.Equal(t, out, block, "regenerate: go run ./starter centercode-setup --config examples/ahacc.yaml")
}

func TestWhatItPrints(t *testing.T) {
	code, out, _ := run("--config", exampleConfig, "--type", "features", "--host", "ahacc.example.com")
	require.Zero(t, code)
	for _, want := range []string{
		"#### Feedback type `features`", "`CC_FEATURES_SOURCE_URL`",
		"`$['Attachment 1']`, `$['Attachment 2']`, `$['Attachment 3']`", // fan-out: one parameter each
		"`$['Spec Files'][1]`", // the indexed form
		"`https://ahacc.example.com/webhooks/centercode/macros/push-to-aha`",
		"| set Won't Fix | run a macro that sets the status *Won't Fix* | `CC_STATUS_WONT_FIX_LISTENER_URL` |",
		"`severity`", "Shipped, Will not implement",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "#### Feedback type `bugs`", "--type limits the sources")
	code, _, errs := run("--config", exampleConfig, "--type", "nope")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, `no feedback type "nope"`)
}
