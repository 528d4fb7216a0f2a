//go:build browser

package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/devstack"
	"github.com/ahacc/ahacc/workflows"
)

// TestUIFindsSyncedRecordByReference drives the real Temporal Web UI of the
// dev stack in headless Chromium: it searches `AhaReference = "PRJ1-I-1"`,
// opens the record's workflow and sees its one-line summary. Run with
// `make test-e2e` (needs Debian's chromium; CHROMIUM_PATH overrides).
func TestUIFindsSyncedRecordByReference(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{
		Ephemeral: true, UIAddr: "127.0.0.1:0",
		ConfigPath: filepath.Join("..", "..", "examples", "ahacc.yaml"),
		LookupEnv:  func(string) (string, bool) { return "", false },
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	defer stack.Stop()

	require.NoError(t, stack.AhaSim.UpdateIdea("PRJ1-I-1", map[string]any{"name": "Seen in the browser"}))
	var wfID string
	require.Eventually(t, func() bool {
		resp, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: `AhaReference = "PRJ1-I-1" AND SyncState = "Synced"`})
		if err != nil || len(resp.Executions) == 0 {
			return false
		}
		wfID = resp.Executions[0].Execution.WorkflowId
		return true
	}, time.Minute, 200*time.Millisecond)
	v, err := stack.Client.QueryWorkflow(ctx, wfID, "", contract.QueryState)
	require.NoError(t, err)
	var st workflows.State
	require.NoError(t, v.Get(&st))
	summary := st.Summary() // e.g. "idea PRJ1-I-1 → bugs feedback 1: synced"

	exec := os.Getenv("CHROMIUM_PATH")
	if exec == "" {
		exec = "/usr/bin/chromium"
	}
	if _, err := os.Stat(exec); err != nil {
		t.Fatalf("chromium not found at %s (apt-get install chromium, or set CHROMIUM_PATH)", exec)
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	list := stack.Temporal.UIURL() + "/namespaces/default/workflows?query=" + url.QueryEscape(`AhaReference = "PRJ1-I-1"`)
	// The UI escapes ':' in links; match on the numeric Aha! id.
	link := chromedp.CSS(`a[href*="` + wfID[strings.LastIndex(wfID, ":")+1:] + `"]`)
	require.NoError(t, chromedp.Do(bctx,
		chromedp.Navigate(list),
		chromedp.WaitVisible(link),
		chromedp.Click(link),
		chromedp.WaitVisible(chromedp.CSS(`body`)),
	), "the workflow list shows %s", wfID)
	// The workflow's "User Metadata" tab shows its current details: our
	// one-line summary.
	tab := chromedp.Search(`//*[self::a or self::button][contains(normalize-space(.), "User Metadata")]`)
	require.NoError(t, chromedp.Do(bctx, chromedp.WaitVisible(tab), chromedp.Click(tab)), "the workflow page has a User Metadata tab")
	var text string
	ok := assertEventually(30*time.Second, func() bool {
		// The UI loads current details on demand ("press R for freshness").
		_ = chromedp.Do(bctx, chromedp.KeyEvent("r"))
		// The details are markdown the UI renders in a same-origin iframe.
		var err error
		text, err = chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText + "\n" +
			Array.from(document.querySelectorAll("iframe")).map(f => { try { return f.contentDocument.body.innerText } catch (e) { return "" } }).join("\n")`))
		if err != nil {
			return false
		}
		return strings.Contains(text, summary)
	})
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(80))
	require.NoError(t, err)
	out := filepath.Join(os.TempDir(), "ahacc-ui-workflow.png")
	_ = os.WriteFile(out, shot, 0o644)
	require.True(t, ok, "the workflow page shows %q; it shows (screenshot %s):\n%s", summary, out, text)
	t.Logf("UI shows %q for %s (screenshot %s)", summary, wfID, out)
}

func assertEventually(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(500 * time.Millisecond)
	}
	return f()
}
