package e2e

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ahacc/ahacc/internal/app"
	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/workflows"
)

// recordedTypes are the workflow types the replay test must cover: every one
// the worker registers.
var recordedTypes = []string{"AhaRecordWorkflow", "ReconcileWorkflow", "FeedbackWorkflow", "MacroWorkflow",
	"AhaPeopleWorkflow", "UserDataWorkflow", "UserBackfillWorkflow", "AuditParentWorkflow", "RecordBackfillWorkflow"}

// TestRecordHistories refreshes workflows/testdata/histories (the replay
// test's input) from a real run of every workflow type: idea creates,
// updates, a description edit and a destroy; a reconcile run; a Centercode status change that
// fires push-to-aha; an idea user's change; a user backfill. It keeps the
// longest history of each type, named with today's date beside the earlier
// recordings. Run it when a workflow change is meant to be
// compatible, before changing workflow code:
//
//	AHACC_RECORD_HISTORIES=1 go test -run TestRecordHistories ./internal/e2e/
func TestRecordHistories(t *testing.T) {
	if os.Getenv("AHACC_RECORD_HISTORIES") == "" {
		t.Skip("set AHACC_RECORD_HISTORIES=1 to re-record workflows/testdata/histories")
	}
	e := startStack(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	aha, cc := e.stack.AhaSim, e.stack.CCSim
	mark := aha.LastAuditID()

	// Feedback in: creates, an update, a destroy.
	require.NoError(t, aha.UpdateIdea("PRJ1-I-1", map[string]any{"name": "Recorded one"}))
	require.NoError(t, aha.UpdateIdea("PRJ1-I-2", map[string]any{"name": "Recorded two"}))
	require.Eventually(t, func() bool { return len(cc.FeedbackList()) >= 2 }, time.Minute, 100*time.Millisecond)
	require.NoError(t, aha.UpdateIdea("PRJ1-I-1", map[string]any{"name": "Recorded one, again"}))
	// A description edit is audited on the idea's note (AuditParentWorkflow).
	require.NoError(t, aha.UpdateIdea("PRJ1-I-1", map[string]any{"description": "<p>Recorded steps</p>"}))
	require.NoError(t, aha.DeleteIdea("PRJ1-I-2"))

	// Macros out: a tester's feedback moves to Will Fix; its rule pushes it to Aha!.
	ref, err := centercode.New().SubmitFeedback(ctx, e.stack.Vars["CC_BUGS_SOURCE_URL"],
		[]byte(`{"Title": "Recorded crash", "Description": "steps", "Aha Reference": "tester-recorded-1"}`))
	require.NoError(t, err)
	fid := mustInt(t, ref.ID)
	_, _, err = cc.SetStatus(fid, "Will Fix")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		f, ok := cc.Feedback(fid)
		return ok && f.CustomData["Aha!"]["aha_reference"] != ""
	}, time.Minute, 100*time.Millisecond, "the macro writes the Aha! link back")

	// User data in: an idea user changes; then everyone is backfilled.
	users := aha.IdeaUserIDs()
	require.NotEmpty(t, users)
	require.NoError(t, aha.UpdateIdeaUser(users[0], map[string]any{"name": "Recorded Person"}))
	require.NoError(t, app.BackfillUsers(ctx, e.stack.Client, e.stack.Env, time.Time{}, io.Discard))
	_, err = app.BackfillRecords(ctx, e.stack.Client, e.stack.Env, "features", time.Time{}, io.Discard)
	require.NoError(t, err)

	run, err := e.stack.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.stack.Env.TaskQueue},
		workflows.ReconcileWorkflow, workflows.ReconcileInput{AfterID: mark})
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	time.Sleep(5 * time.Second)

	// The longest history of each type.
	type rec struct {
		name string
		h    *historypb.History
	}
	best := map[string]rec{}
	day := time.Now().UTC().Format("20060102")
	var token []byte
	for {
		resp, err := e.stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		require.NoError(t, err)
		for _, ex := range resp.Executions {
			h := &historypb.History{}
			it := e.stack.Client.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				require.NoError(t, err)
				h.Events = append(h.Events, ev)
			}
			typ := ex.Type.Name
			if b, ok := best[typ]; !ok || len(h.Events) > len(b.h.Events) {
				best[typ] = rec{typ + "-" + day + "-" + strings.NewReplacer(":", "_", "/", "_", "@", "_").Replace(ex.Execution.WorkflowId), h}
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	for _, typ := range recordedTypes {
		require.Contains(t, best, typ, "no %s ran", typ)
	}

	// Earlier recordings stay: they are what older workers left running, and
	// the replay test keeps proving today's code can continue them.
	dir := repoFile("workflows", "testdata", "histories")
	types := make([]string, 0, len(best))
	for typ := range best {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		b, err := protojson.MarshalOptions{Indent: " "}.Marshal(best[typ].h)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, best[typ].name+".json"), b, 0o644))
		t.Logf("%s: %d events", best[typ].name, len(best[typ].h.Events))
	}
}
