package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/dispatch"
	"github.com/ahacc/ahacc/mapping"
	"github.com/ahacc/ahacc/workflows"
)

const mcToken = "cc-webhook-token-1"

type mcHarness struct {
	app     *fiber.App
	tc      *mocks.Client
	mu      sync.Mutex
	started []workflows.MacroInput
	ids     []string
	signals []contract.StatusChange
	fail    error
}

func mcNewHarness(t *testing.T) *mcHarness {
	t.Helper()
	cfg, err := mapping.LoadFileWithOptions(filepath.Join("..", "..", "examples", "ahacc.yaml"), mapping.LoadOptions{
		LookupEnv: func(string) (string, bool) { return "", false }, AllowUnsetEnv: true})
	require.NoError(t, err)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	h := &mcHarness{tc: &mocks.Client{}}
	h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, o client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.fail != nil {
				return nil, h.fail
			}
			for _, id := range h.ids {
				if id == o.ID {
					return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "")
				}
			}
			h.ids = append(h.ids, o.ID)
			h.started = append(h.started, args[0].(workflows.MacroInput))
			return nil, nil
		})
	// A create macro's runs for one feedback signal-with-start one workflow.
	h.tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, contract.SignalRunAgain, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, id, _ string, _ any, _ client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.fail != nil {
				return nil, h.fail
			}
			h.ids = append(h.ids, id)
			h.started = append(h.started, args[0].(workflows.MacroInput))
			return nil, nil
		})
	h.tc.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, contract.SignalStatusChanged, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, id, _ string, arg any, _ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.fail != nil {
				return nil, h.fail
			}
			h.ids = append(h.ids, id)
			h.signals = append(h.signals, arg.(contract.StatusChange))
			return nil, nil
		})
	d := &dispatch.Dispatcher{Temporal: h.tc, TaskQueue: "q", Config: func() *mapping.Config { return cfg },
		Dedup: dedup.New(rdb, 0, ""), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BodyLimit: 4096, Centercode: &CentercodeWebhook{Tokens: []string{"old-token", mcToken}, Dispatcher: d, Config: func() *mapping.Config { return cfg }}})
	h.app = srv.App()
	return h
}

type mcAnswer struct {
	Code       int
	Status     string   `json:"status"`
	WorkflowID string   `json:"workflow_id"`
	Error      string   `json:"error"`
	Missing    []string `json:"missing"`
}

func (h *mcHarness) post(t *testing.T, path, auth, body string) mcAnswer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := h.app.Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := mcAnswer{Code: resp.StatusCode}
	require.NoError(t, json.Unmarshal(b, &a), string(b))
	return a
}

const mcMacroBody = `{"macro":"push-to-aha","feedbackId":1001,"title":"Crash on save","description":"<p>x</p>","runKey":"run-7","status":"Will Fix"}`

func TestCentercodeMacroEndpoint(t *testing.T) {
	h := mcNewHarness(t)
	bearer := "Bearer " + mcToken

	a := h.post(t, "/webhooks/centercode/macros/push-to-aha", bearer, mcMacroBody)
	require.Equal(t, http.StatusAccepted, a.Code, a.Error)
	require.Equal(t, "accepted", a.Status)
	require.Equal(t, "macro:create_idea:1001", a.WorkflowID, "push-to-aha creates: one workflow per feedback")
	require.Len(t, h.started, 1)
	require.Equal(t, workflows.MacroInput{Macro: "push-to-aha", FeedbackID: "1001", RunKey: "run-7", Trigger: contract.TriggerWebhook,
		Payload: json.RawMessage(mcMacroBody)}, h.started[0])

	// The duplicate delivery (same run key) is answered 200 and starts nothing.
	a = h.post(t, "/webhooks/centercode/macros/push-to-aha", bearer, mcMacroBody)
	require.Equal(t, http.StatusOK, a.Code)
	require.Equal(t, "duplicate", a.Status)
	require.Len(t, h.started, 1)

	// Path-token variant, the rotated-out token, and no runKey (hash of the body).
	body := `{"feedbackId":"1002","title":"Slow"}`
	a = h.post(t, "/webhooks/centercode/macros/push-to-aha/old-token", "", body)
	require.Equal(t, http.StatusAccepted, a.Code, a.Error)
	require.Equal(t, "macro:create_idea:1002", a.WorkflowID)
	a = h.post(t, "/webhooks/centercode/macros/push-to-aha/old-token", "", body)
	require.Equal(t, "duplicate", a.Status, "the same body is the same delivery")
}

func TestCentercodeMacroEndpointRejects(t *testing.T) {
	h := mcNewHarness(t)
	bearer := "Bearer " + mcToken
	tests := []struct {
		name, path, auth, body string
		code                   int
		missing                []string
		errPart                string
	}{
		{"no token", "/webhooks/centercode/macros/push-to-aha", "", mcMacroBody, 401, nil, "unauthorized"},
		{"wrong bearer", "/webhooks/centercode/macros/push-to-aha", "Bearer nope", mcMacroBody, 401, nil, "unauthorized"},
		{"wrong path token", "/webhooks/centercode/macros/push-to-aha/nope", "", mcMacroBody, 401, nil, "unauthorized"},
		{"unknown macro", "/webhooks/centercode/macros/nope", bearer, mcMacroBody, 404, nil, `unknown macro "nope"`},
		{"not json", "/webhooks/centercode/macros/push-to-aha", bearer, `{"feedbackId":`, 400, nil, "not valid JSON"},
		{"not an object", "/webhooks/centercode/macros/push-to-aha", bearer, `[1]`, 400, nil, "JSON object"},
		{"missing title", "/webhooks/centercode/macros/push-to-aha", bearer, `{"feedbackId":1001}`, 400, []string{"title"}, `"title"`},
		{"missing feedbackId", "/webhooks/centercode/macros/push-to-aha", bearer, `{"title":"x"}`, 400, []string{"feedbackId"}, `"feedbackId"`},
		{"missing both", "/webhooks/centercode/macros/comment-to-aha", bearer, `{"title":"x"}`, 400, []string{"feedbackId", "comment"}, `"comment"`},
		{"bad feedback id", "/webhooks/centercode/macros/push-to-aha", bearer, `{"feedbackId":"a b","title":"x"}`, 400, nil, "not a Centercode feedback id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := h.post(t, tc.path, tc.auth, tc.body)
			require.Equal(t, tc.code, a.Code, a.Error)
			require.Equal(t, "error", a.Status)
			require.Contains(t, a.Error, tc.errPart)
			if tc.missing != nil {
				require.Equal(t, tc.missing, a.Missing)
			}
		})
	}
	require.Empty(t, h.started)
}

func TestCentercodeStatusEndpoint(t *testing.T) {
	h := mcNewHarness(t)
	bearer := "Bearer " + mcToken
	body := `{"feedbackId":1001,"status":"Will Fix","oldStatus":"New","time":"2026-01-02T03:04:05Z","runKey":"run-9","title":"Crash"}`
	a := h.post(t, "/webhooks/centercode/status", bearer, body)
	require.Equal(t, http.StatusAccepted, a.Code, a.Error)
	require.Equal(t, "cc:feedback:1001", a.WorkflowID)
	require.Len(t, h.signals, 1)
	ch := h.signals[0]
	require.Equal(t, "run-9", ch.Key)
	require.Equal(t, "Will Fix", ch.Status)
	require.Equal(t, "New", ch.OldStatus)
	require.Equal(t, "2026-01-02T03:04:05Z", ch.At.UTC().Format("2006-01-02T15:04:05Z"))
	require.JSONEq(t, body, string(ch.Payload))

	a = h.post(t, "/webhooks/centercode/status/"+mcToken, "", body)
	require.Equal(t, http.StatusOK, a.Code)
	require.Equal(t, "duplicate", a.Status)
	require.Len(t, h.signals, 1)

	a = h.post(t, "/webhooks/centercode/status", bearer, `{"feedbackId":1001}`)
	require.Equal(t, http.StatusBadRequest, a.Code)
	require.Equal(t, []string{"status"}, a.Missing)
	require.Contains(t, a.Error, `"status"`)
	a = h.post(t, "/webhooks/centercode/status", bearer, `{"feedbackId":1001,"status":"New","time":"yesterday"}`)
	require.Equal(t, http.StatusBadRequest, a.Code)
	require.Contains(t, a.Error, "RFC 3339")
	a = h.post(t, "/webhooks/centercode/status", "", body)
	require.Equal(t, http.StatusUnauthorized, a.Code)
}

// Temporal unavailable: 503 with Retry-After, and the delivery is not marked
// seen, so Centercode's (or an operator's) second try is accepted.
func TestCentercodeEndpointsAnswer503AndForget(t *testing.T) {
	h := mcNewHarness(t)
	bearer := "Bearer " + mcToken
	h.fail = errors.New("connection refused")
	for _, p := range []string{"/webhooks/centercode/macros/push-to-aha", "/webhooks/centercode/status"} {
		a := h.post(t, p, bearer, mcMacroBody)
		require.Equal(t, http.StatusServiceUnavailable, a.Code, p)
		require.Contains(t, a.Error, "temporal cannot take the event now")
	}
	h.fail = nil
	require.Equal(t, http.StatusAccepted, h.post(t, "/webhooks/centercode/macros/push-to-aha", bearer, mcMacroBody).Code)
	require.Equal(t, http.StatusAccepted, h.post(t, "/webhooks/centercode/status", bearer, mcMacroBody).Code)
}
