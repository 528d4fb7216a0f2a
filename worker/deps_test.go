package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinariesDoNotLinkTemporalServer keeps the embedded server (dev stack and
// tests only) out of the worker and starter binaries.
func TestBinariesDoNotLinkTemporalServer(t *testing.T) {
	for _, pkg := range []string{"github.com/ahacc/ahacc/worker", "github.com/ahacc/ahacc/starter"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "go.temporal.io/server") || strings.HasPrefix(dep, "github.com/temporalio/ui-server") {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
