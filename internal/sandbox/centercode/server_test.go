package centercode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cc "github.com/ahacc/ahacc/internal/sandbox/centercode"
	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

const key = cc.DefaultAPIKey

func start(t *testing.T, mutate func(*cc.Config)) *cc.Server {
	t.Helper()
	cfg := cc.DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := cc.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type answer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func do(t *testing.T, method, url, contentType string, body any) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &a.Body)
	return a
}

func postJSON(t *testing.T, url string, body any) answer {
	return do(t, http.MethodPost, url, "application/json", body)
}

func bug(title string, extra map[string]any) map[string]any {
	m := map[string]any{"Title": title, "Description": "<p>Crash on <b>save</b></p>", "Severity": "Major"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestAuth(t *testing.T) {
	s := start(t, func(c *cc.Config) {
		c.APIKeys = append(c.APIKeys, "second-key")
		c.DisabledAPIKeys = []string{"old-key"}
	})
	base := s.URL() + "/api/v1/projects/beta/feedback/externalSources/bugs"
	tests := []struct {
		name   string
		query  string
		status int
	}{
		{"missing key", "", http.StatusUnauthorized},
		{"empty key", "?apiKey=", http.StatusUnauthorized},
		{"wrong key", "?apiKey=nope", http.StatusForbidden},
		{"disabled key", "?apiKey=old-key", http.StatusForbidden},
		{"valid key", "?apiKey=" + key, http.StatusCreated},
		{"second valid key", "?apiKey=second-key", http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := postJSON(t, base+tt.query, bug("auth", nil))
			assert.Equal(t, tt.status, a.Status, a.Raw)
		})
	}
	// Disabling a key at run time breaks every integration that uses it.
	s.SetAPIKeyEnabled("second-key", false)
	assert.Equal(t, http.StatusForbidden, postJSON(t, base+"?apiKey=second-key", bug("x", nil)).Status)
	a := do(t, http.MethodPut, s.URL()+"/__sim/apikeys/second-key", "application/json", map[string]bool{"disabled": false})
	require.Equal(t, http.StatusOK, a.Status)
	assert.Equal(t, http.StatusCreated, postJSON(t, base+"?apiKey=second-key", bug("x", nil)).Status)
}

func TestNotFound(t *testing.T) {
	s := start(t, nil)
	q := "?apiKey=" + key
	tests := []struct {
		name, method, path string
	}{
		{"unknown source", http.MethodPost, "/api/v1/projects/beta/feedback/externalSources/nope"},
		{"unknown project", http.MethodPost, "/api/v1/projects/other/feedback/externalSources/bugs"},
		{"unknown listener", http.MethodPost, "/api/v1/listeners/nope"},
		{"unknown feedback", http.MethodGet, "/api/v1/projects/beta/feedback/999999"},
		{"unknown endpoint", http.MethodGet, "/api/v1/whatever"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, tt.method, s.URL()+tt.path+q, "application/json", map[string]any{"email": "ada@example.com", "Title": "x"})
			assert.Equal(t, http.StatusNotFound, a.Status, a.Raw)
		})
	}
	// Feedback of another project is not visible under this one.
	created := postJSON(t, s.SourceURL("beta", "bugs"), bug("mine", nil))
	require.Equal(t, http.StatusCreated, created.Status)
	id := int64(created.Body["id"].(float64))
	assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, s.URL()+"/api/v1/projects/gamma/feedback/"+itoa(id)+q, "", nil).Status)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestSubmitSuccessAndRecordLookup(t *testing.T) {
	s := start(t, nil)
	a := postJSON(t, s.SourceURL("beta", "bugs"), bug("Crash on save", map[string]any{
		"Platforms":     []string{"Windows", "Linux"},
		"Attachment 1":  "https://files.example.com/a.png",
		"Aha Reference": "APP-I-12",
		"Unmapped":      "ignored",
	}))
	require.Equal(t, http.StatusCreated, a.Status, a.Raw)
	id := a.Body["id"].(float64)
	assert.Equal(t, id, a.Body["feedbackId"])
	assert.Equal(t, "New", a.Body["status"])

	got := do(t, http.MethodGet, s.URL()+"/api/v1/projects/beta/feedback/"+itoa(int64(id))+"?apiKey="+key, "", nil)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, "Issues", got.Body["feedbackType"])
	assert.Equal(t, "pm@example.com", got.Body["submitter"], "default submitter")
	assert.Equal(t, "APP-I-12", got.Body["externalReference"])
	el := got.Body["elements"].(map[string]any)
	assert.Equal(t, "<p>Crash on <b>save</b></p>", el["Description"], "simple HTML stored as sent")
	assert.Equal(t, []any{"Windows", "Linux"}, el["Platforms"])
	assert.NotContains(t, el, "Unmapped")

	f, ok := s.Feedback(int64(id))
	require.True(t, ok)
	assert.Equal(t, "Major", f.Elements["Severity"])
}

func TestSubmitValidation(t *testing.T) {
	s := start(t, nil)
	url := s.SourceURL("beta", "bugs")
	tests := []struct {
		name        string
		contentType string
		body        any
		element     string
		contains    []string
	}{
		{"invalid choice names element and options", "application/json", bug("x", map[string]any{"Severity": "P0"}),
			"Severity", []string{`"P0"`, "Critical, Major, Minor, Trivial"}},
		{"required missing", "application/json", map[string]any{"Description": "no title"}, "Title", []string{"required"}},
		{"required empty", "application/json", bug("  ", nil), "Title", []string{"required"}},
		{"multi choice comma-joined invalid", "application/json", bug("x", map[string]any{"Platforms": "Windows, BeOS"}),
			"Platforms", []string{`"BeOS"`, "Windows, macOS"}},
		{"multi choice array invalid", "application/json", bug("x", map[string]any{"Platforms": []string{"Linux", "Plan9"}}),
			"Platforms", []string{`"Plan9"`}},
		{"attachment not a URL", "application/json", bug("x", map[string]any{"Attachment 1": "C:\\a.png"}), "Attachment 1", []string{"URL"}},
		{"array for a single value", "application/json", bug("x", map[string]any{"Attachment 1": []string{"https://a/1", "https://a/2"}}),
			"Attachment 1", []string{"one value per parameter"}},
		{"bad email", "application/json", bug("x", map[string]any{"Reporter Email": "not-an-email"}), "Reporter Email", []string{"email"}},
		{"form data", "application/x-www-form-urlencoded", "Title=x", "", []string{"JSON"}},
		{"no content type", "", `{"Title":"x"}`, "", []string{"JSON"}},
		{"not an object", "application/json", `["Title"]`, "", []string{"object"}},
		{"malformed json", "application/json", `{"Title":`, "", []string{"valid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, http.MethodPost, url, tt.contentType, tt.body)
			require.Equal(t, http.StatusBadRequest, a.Status, a.Raw)
			if tt.element != "" {
				assert.Equal(t, tt.element, a.Body["element"])
			}
			for _, c := range tt.contains {
				assert.Contains(t, a.Body["message"], c)
			}
		})
	}
	// Valid multi-choice forms are accepted.
	for _, v := range []any{"Windows, Linux", []string{"macOS"}} {
		a := postJSON(t, url, bug("ok", map[string]any{"Platforms": v}))
		assert.Equal(t, http.StatusCreated, a.Status, a.Raw)
	}
	// The first error is at the top level; all are listed.
	a := postJSON(t, url, map[string]any{"Severity": "P0"})
	require.Equal(t, http.StatusBadRequest, a.Status)
	assert.Len(t, a.Body["errors"], 2)
	assert.Equal(t, []any{"Critical", "Major", "Minor", "Trivial"}, a.Body["errors"].([]any)[1].(map[string]any)["options"])
	assert.Len(t, s.FeedbackList(), 2, "only the two valid bodies are stored")
}

func strictSource(c *cc.Config) {
	c.Sources = append(c.Sources, cc.Source{
		ProjectKey: "beta", Key: "strict", FeedbackType: "Praise",
		Statuses: []string{"New", "Open"},
		Elements: []cc.Element{
			{Name: "Title", Required: true},
			{Name: "Score", Kind: cc.KindRating},
			{Name: "Due", Kind: cc.KindDate},
			{Name: "Count", Kind: cc.KindNumber},
			{Name: "First Shot", Kind: cc.KindAttachment, Path: "$['Shots'][0]"},
		},
	})
}

func TestRequiredParametersAndSubmitter(t *testing.T) {
	s := start(t, strictSource)
	url := s.SourceURL("beta", "strict")
	tests := []struct {
		name     string
		body     map[string]any
		status   int
		elements []string
	}{
		{"status and submitter missing", map[string]any{"Title": "x"}, 400, []string{"Submitter", "Status"}},
		{"unknown submitter", map[string]any{"Title": "x", "Submitter": "nobody@example.com", "Status": "New"}, 400, []string{"Submitter"}},
		{"status not in workflow", map[string]any{"Title": "x", "Submitter": "ada@example.com", "Status": "Bogus"}, 400, []string{"Status"}},
		{"bad rating", map[string]any{"Title": "x", "Submitter": "ada@example.com", "Status": "New", "Score": 9}, 400, []string{"Score"}},
		{"bad date", map[string]any{"Title": "x", "Submitter": "ada@example.com", "Status": "New", "Due": "tomorrow"}, 400, []string{"Due"}},
		{"bad number", map[string]any{"Title": "x", "Submitter": "ada@example.com", "Status": "New", "Count": "many"}, 400, []string{"Count"}},
		{"known submitter matched by email, any case", map[string]any{"Title": "x", "Submitter": " ADA@Example.com", "Status": "Open",
			"Score": 4, "Due": "2026-03-01", "Count": "12", "Shots": []string{"https://img/1.png", "https://img/2.png"}}, 201, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := postJSON(t, url, tt.body)
			require.Equal(t, tt.status, a.Status, a.Raw)
			var got []string
			for _, e := range asSlice(a.Body["errors"]) {
				got = append(got, e.(map[string]any)["element"].(string))
			}
			assert.ElementsMatch(t, tt.elements, got)
			if tt.status == 201 {
				f, ok := s.Feedback(int64(a.Body["id"].(float64)))
				require.True(t, ok)
				assert.Equal(t, "ada@example.com", f.Submitter)
				assert.Equal(t, "Open", f.Status)
				assert.Equal(t, "https://img/1.png", f.Elements["First Shot"], "JSONPath [0] takes one value")
				assert.Equal(t, 4, f.Elements["Score"])
			}
		})
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func TestUserListener(t *testing.T) {
	s := start(t, nil)
	url := s.ListenerURL("user-data")
	a := postJSON(t, url, map[string]any{"email": "Grace@Example.com", "company": "Navy", "revenue": 1000000, "shoe_size": "9"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)

	u, ok := s.User("grace@example.com")
	require.True(t, ok)
	g := u.Data["Aha!"]
	assert.Equal(t, cc.DataValue{Label: "Company", Value: "Navy", Updated: g["company"].Updated}, g["company"])
	assert.Equal(t, "1000000", g["revenue"].Value)
	assert.Equal(t, "Annual Revenue", g["revenue"].Label)
	assert.Equal(t, "shoe_size", g["shoe_size"].Label, "unknown keys are stored (Assumption 4)")

	// Empty string (and null) clears a value.
	a = postJSON(t, url, map[string]any{"email": "grace@example.com", "company": "", "shoe_size": nil, "revenue": "2000000"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, map[string]map[string]string{"Aha!": {"revenue": "2000000"}}, s.UserData("grace@example.com"))
	assert.EqualValues(t, 2, s.UserWrites("GRACE@example.com"))

	// Unknown user → 404 (Assumption 4); missing email → 400; nested values → 400.
	assert.Equal(t, http.StatusNotFound, postJSON(t, url, map[string]any{"email": "ghost@example.com", "company": "x"}).Status)
	a = postJSON(t, url, map[string]any{"company": "x"})
	assert.Equal(t, http.StatusBadRequest, a.Status)
	assert.Equal(t, "email", a.Body["element"])
	a = postJSON(t, url, map[string]any{"email": "grace@example.com", "company": map[string]any{"name": "x"}})
	assert.Equal(t, http.StatusBadRequest, a.Status)
	assert.Equal(t, "company", a.Body["element"])
	assert.EqualValues(t, 2, s.ListenerWrites().Total, "rejected calls are not writes")
}

func TestFeedbackListeners(t *testing.T) {
	s := start(t, nil)
	created := postJSON(t, s.SourceURL("beta", "bugs"), bug("x", nil))
	require.Equal(t, http.StatusCreated, created.Status)
	id := created.Body["id"]

	a := postJSON(t, s.ListenerURL("feedback-data"), map[string]any{"feedbackId": id, "aha_reference": "APP-I-1", "aha_url": "https://x.aha.io/ideas/APP-I-1"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	a = postJSON(t, s.ListenerURL("feedback-comment"), map[string]any{"feedbackId": itoa(int64(id.(float64))), "comment": "Pushed to Aha!"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, http.StatusBadRequest, postJSON(t, s.ListenerURL("feedback-comment"), map[string]any{"feedbackId": id}).Status)
	assert.Equal(t, http.StatusNotFound, postJSON(t, s.ListenerURL("feedback-data"), map[string]any{"feedbackId": 424242, "a": "b"}).Status)
	assert.Equal(t, http.StatusBadRequest, postJSON(t, s.ListenerURL("feedback-data"), map[string]any{"a": "b"}).Status)

	got := do(t, http.MethodGet, s.FeedbackURL("beta")[:strings.Index(s.FeedbackURL("beta"), "?")]+"/"+itoa(int64(id.(float64)))+"?apiKey="+key, "", nil)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, map[string]any{"Aha!": map[string]any{"aha_reference": "APP-I-1", "aha_url": "https://x.aha.io/ideas/APP-I-1"}}, got.Body["customData"])
	assert.Equal(t, "Pushed to Aha!", got.Body["comments"].([]any)[0].(map[string]any)["text"])
	assert.EqualValues(t, 2, s.FeedbackWrites(int64(id.(float64))))
}

func TestLookupByElement(t *testing.T) {
	s := start(t, nil)
	for _, ref := range []string{"APP-I-1", "APP-I-2"} {
		require.Equal(t, http.StatusCreated, postJSON(t, s.SourceURL("beta", "bugs"), bug(ref, map[string]any{"Aha Reference": ref})).Status)
	}
	a := do(t, http.MethodGet, s.FeedbackURL("beta")+"&element=Aha+Reference&value=APP-I-2", "", nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	data := asSlice(a.Body["data"])
	require.Len(t, data, 1)
	assert.Equal(t, "APP-I-2", data[0].(map[string]any)["externalReference"])

	a = do(t, http.MethodGet, s.FeedbackURL("beta")+"&element=Aha+Reference&value=APP-I-9", "", nil)
	require.Equal(t, http.StatusOK, a.Status)
	assert.Empty(t, asSlice(a.Body["data"]))
	assert.Equal(t, http.StatusBadRequest, do(t, http.MethodGet, s.FeedbackURL("beta"), "", nil).Status)

	// By external reference (ahacc's config centercode.lookup.param form).
	a = do(t, http.MethodGet, s.FeedbackURL("beta")+"&externalReference=APP-I-1", "", nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	data = asSlice(a.Body["data"])
	require.Len(t, data, 1)
	assert.Equal(t, "APP-I-1", data[0].(map[string]any)["elements"].(map[string]any)["Title"])
	a = do(t, http.MethodGet, s.FeedbackURL("other")+"&externalReference=APP-I-1", "", nil)
	assert.Empty(t, asSlice(a.Body["data"]), "lookups are per project")

	off := start(t, func(c *cc.Config) { c.DisableLookupByElement = true })
	assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, off.FeedbackURL("beta")+"&element=Title&value=x", "", nil).Status)
}

type received struct {
	mu   sync.Mutex
	reqs []receivedReq
}

type receivedReq struct {
	Method, Path, Auth, ContentType string
	Body                            map[string]any
}

func (rc *received) all() []receivedReq {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedReq(nil), rc.reqs...)
}

func receiver(t *testing.T, status int) (*httptest.Server, *received) {
	rc := &received{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			body = map[string]any{"_raw": string(raw)}
		}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, receivedReq{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, rc
}

func TestMacrosManualAndAutomatic(t *testing.T) {
	hook, got := receiver(t, http.StatusAccepted)
	s := start(t, func(c *cc.Config) {
		c.Macros = []cc.Macro{
			{Name: "push-to-aha", Trigger: cc.TriggerStatusChange, StatusFilter: []string{"Will Fix"},
				URL: hook.URL + "/webhooks/centercode/macros/push-to-aha", Headers: map[string]string{"Authorization": "Bearer s3cret"}},
			{Name: "custom", URL: hook.URL + "/custom", Method: "PUT",
				BodyTemplate: `{"id": {{.FeedbackID}}, "t": {{json .Title}}, "sev": {{json (index .Elements "Severity")}}, "who": {{json .SubmitterEmail}}}`},
		}
		c.Listeners = append(c.Listeners, cc.Listener{Key: "run-custom", Target: cc.TargetFeedback, Action: cc.ActionRunMacro, Macro: "custom"})
	})
	created := postJSON(t, s.SourceURL("beta", "bugs"), bug(`Quote " and <b>`, nil))
	require.Equal(t, http.StatusCreated, created.Status)
	id := int64(created.Body["id"].(float64))

	// Manual run through the simulator endpoint waits for the delivery.
	a := postJSON(t, s.URL()+"/__sim/macros/custom/run", map[string]any{"feedbackId": id})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	d := asSlice(a.Body["deliveries"])
	require.Len(t, d, 1)
	assert.EqualValues(t, http.StatusAccepted, d[0].(map[string]any)["statusCode"])
	reqs := got.all()
	require.Len(t, reqs, 1)
	assert.Equal(t, "PUT", reqs[0].Method)
	assert.Equal(t, map[string]any{"id": float64(id), "t": `Quote " and <b>`, "sev": "Major", "who": "pm@example.com"}, reqs[0].Body)
	assert.Equal(t, http.StatusNotFound, postJSON(t, s.URL()+"/__sim/macros/nope/run", map[string]any{"feedbackId": id}).Status)
	assert.Equal(t, http.StatusNotFound, postJSON(t, s.URL()+"/__sim/macros/custom/run", map[string]any{"feedbackId": 1}).Status)

	// A status change that the filter does not name fires nothing.
	a = postJSON(t, s.URL()+"/__sim/feedback/"+itoa(id)+"/status", map[string]any{"status": "In Review"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.EqualValues(t, 0, a.Body["macrosFired"])
	// "Will Fix" fires the automatic macro with the default body.
	a = postJSON(t, s.URL()+"/__sim/feedback/"+itoa(id)+"/status", map[string]any{"status": "Will Fix"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.EqualValues(t, 1, a.Body["macrosFired"])
	require.NoError(t, s.WaitDeliveries(context.Background()))
	reqs = got.all()
	require.Len(t, reqs, 2)
	r := reqs[1]
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, "/webhooks/centercode/macros/push-to-aha", r.Path)
	assert.Equal(t, "Bearer s3cret", r.Auth)
	assert.Equal(t, "application/json", r.ContentType)
	assert.Equal(t, float64(id), r.Body["feedbackId"])
	assert.Equal(t, "Will Fix", r.Body["status"])
	assert.Equal(t, "In Review", r.Body["oldStatus"])
	assert.Equal(t, `Quote " and <b>`, r.Body["title"])
	assert.Equal(t, "<p>Crash on <b>save</b></p>", r.Body["description"])
	assert.Equal(t, "pm@example.com", r.Body["submitterEmail"])
	assert.Equal(t, "Major", r.Body["elements"].(map[string]any)["Severity"])
	// Same status again is no change: nothing fires.
	a = postJSON(t, s.URL()+"/__sim/feedback/"+itoa(id)+"/status", map[string]any{"status": "Will Fix"})
	assert.EqualValues(t, 0, a.Body["macrosFired"])
	assert.Equal(t, http.StatusBadRequest, postJSON(t, s.URL()+"/__sim/feedback/"+itoa(id)+"/status", map[string]any{"status": "Nope"}).Status)

	// The run_macro listener changes status and fires too; with duplicate delivery on,
	// every call arrives twice with the same run key.
	s.SetDuplicateMacroDelivery(true)
	created2 := postJSON(t, s.SourceURL("beta", "bugs"), bug("second", nil))
	id2 := created2.Body["id"]
	a = postJSON(t, s.ListenerURL("will-fix"), map[string]any{"feedbackId": id2})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, "New", a.Body["oldStatus"])
	a = postJSON(t, s.ListenerURL("run-custom"), map[string]any{"feedbackId": id2})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	require.NoError(t, s.WaitDeliveries(context.Background()))
	var forID2 []cc.Delivery
	for _, d := range s.Deliveries() {
		if float64(d.FeedbackID) == id2.(float64) {
			forID2 = append(forID2, d)
		}
	}
	require.Len(t, forID2, 4)
	runKeys := map[string][]int{}
	for _, d := range forID2 {
		runKeys[d.RunKey] = append(runKeys[d.RunKey], d.Copy)
		assert.Equal(t, http.StatusAccepted, d.StatusCode)
		assert.NotContains(t, d.Body, "s3cret")
	}
	assert.Len(t, runKeys, 2)
	for _, copies := range runKeys {
		assert.ElementsMatch(t, []int{1, 2}, copies)
	}
	f, _ := s.Feedback(int64(id2.(float64)))
	assert.Equal(t, "Will Fix", f.Status)
	assert.Len(t, got.all(), 6)
}

func TestMacroFailureRecordedNotRetried(t *testing.T) {
	hook, got := receiver(t, http.StatusServiceUnavailable)
	s := start(t, nil)
	require.NoError(t, s.SetMacroURL("push-to-aha", hook.URL+"/hook"))
	require.NoError(t, s.SetMacroHeader("push-to-aha", "Authorization", "Bearer t"))
	created := postJSON(t, s.SourceURL("beta", "bugs"), bug("x", nil))
	_, fired, err := s.SetStatus(int64(created.Body["id"].(float64)), "Will Fix")
	require.NoError(t, err)
	require.Equal(t, 1, fired)
	require.NoError(t, s.WaitDeliveries(context.Background()))
	d := s.Deliveries()
	require.Len(t, d, 1)
	assert.Equal(t, http.StatusServiceUnavailable, d[0].StatusCode)
	assert.Equal(t, []string{"Authorization"}, d[0].HeaderNames)
	assert.Len(t, got.all(), 1, "AssumptionNoMacroRetry")
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := start(t, func(c *cc.Config) {
		c.RateLimit = cc.RateLimit{PerSecond: 10}
		c.Now = func() time.Time { return now }
	})
	url := s.ListenerURL("user-data")
	statuses := map[int]int{}
	var limited answer
	for i := 0; i < 50; i++ {
		a := postJSON(t, url, map[string]any{"email": "ada@example.com", "n": i})
		statuses[a.Status]++
		if a.Status == http.StatusTooManyRequests {
			limited = a
		}
	}
	assert.Equal(t, map[int]int{200: 10, 429: 40}, statuses)
	assert.Equal(t, "1", limited.Header.Get("Retry-After"))
	assert.Equal(t, "10", limited.Header.Get("X-Ratelimit-Limit"))
	assert.Equal(t, "0", limited.Header.Get("X-Ratelimit-Remaining"))
	assert.NotEmpty(t, limited.Header.Get("X-Ratelimit-Reset"))
	assert.EqualValues(t, 40, s.Requests().RateLimited)
	assert.EqualValues(t, 10, s.UserWrites("ada@example.com"))

	// Turn it off at run time through the control endpoint.
	a := do(t, http.MethodPut, s.URL()+"/__sim/ratelimit", "application/json", map[string]int{"per_second": 0})
	require.Equal(t, http.StatusOK, a.Status)
	assert.Equal(t, http.StatusOK, postJSON(t, url, map[string]any{"email": "ada@example.com"}).Status)
}

func TestFaultInjection(t *testing.T) {
	s := start(t, func(c *cc.Config) { c.Faults = simkit.Faults{ErrorRate: 1, ErrorCodes: []int{503}, Seed: 1} })
	for i := 0; i < 5; i++ {
		assert.Equal(t, http.StatusServiceUnavailable, postJSON(t, s.SourceURL("beta", "bugs"), bug("x", nil)).Status)
	}
	assert.Empty(t, s.FeedbackList())
	// The control endpoints are never faulted.
	a := do(t, http.MethodPut, s.URL()+"/__sim/faults", "application/json",
		simkit.Faults{CommitTimeoutRate: 1, CommitTimeoutDelay: 20 * time.Millisecond})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)

	// Commit then time out: the feedback exists but the client gets no answer.
	resp, err := http.Post(s.SourceURL("beta", "bugs"), "application/json", strings.NewReader(`{"Title":"ghost","Aha Reference":"APP-I-7"}`))
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "never")
	list := s.LookupByElement("beta", "Aha Reference", "APP-I-7")
	require.Len(t, list, 1)
	// The handler records the dropped request just after closing the connection.
	require.Eventually(t, func() bool { return s.Requests().ByStatus[0] == 1 }, 2*time.Second, 5*time.Millisecond)
	st := s.Inspect(true)
	assert.EqualValues(t, 5, st.Faults.Errors)
	assert.EqualValues(t, 1, st.Faults.CommitTimeouts)
	assert.EqualValues(t, 5, st.Requests.ByStatus[503])
	assert.EqualValues(t, 1, st.Requests.ByStatus[0], "dropped connection recorded as status 0")
}

func TestInspectionAndUsers(t *testing.T) {
	s := start(t, nil)
	a := postJSON(t, s.URL()+"/__sim/users", map[string]any{
		"users":    []cc.User{{FirstName: "New", LastName: "Person", Email: "new@example.com"}},
		"generate": map[string]any{"count": 10000},
	})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.EqualValues(t, 10001, a.Body["added"])
	assert.EqualValues(t, 10006, a.Body["user_count"])
	assert.Equal(t, http.StatusOK, postJSON(t, s.ListenerURL("user-data"), map[string]any{"email": "tester9000@example.com", "company": "Acme"}).Status)
	assert.Equal(t, http.StatusOK, postJSON(t, s.ListenerURL("user-data"), map[string]any{"email": "new@example.com", "company": "Beta"}).Status)
	a = postJSON(t, s.SourceURL("beta", "ideas"), map[string]any{"Title": "Dark mode", "Category": "Usability", "Votes": 3, "Submitter": "ada@example.com"})
	require.Equal(t, http.StatusCreated, a.Status, a.Raw)
	require.Equal(t, http.StatusBadRequest, postJSON(t, s.SourceURL("beta", "ideas"), map[string]any{"Title": "x", "Category": "Nope"}).Status)
	require.Equal(t, http.StatusUnauthorized, postJSON(t, strings.Split(s.SourceURL("beta", "ideas"), "?")[0], map[string]any{}).Status)

	a = do(t, http.MethodGet, s.URL()+"/__sim/inspect", "", nil)
	require.Equal(t, http.StatusOK, a.Status)
	var in cc.Inspection
	require.NoError(t, json.Unmarshal([]byte(a.Raw), &in))
	assert.Equal(t, 1, in.FeedbackCount)
	assert.Equal(t, map[string]int{"Ideas": 1}, in.FeedbackByType)
	assert.Equal(t, "Dark mode", in.Feedback[0].Elements["Title"])
	assert.Equal(t, 10006, in.UserCount)
	require.Len(t, in.UserData, 2)
	assert.Equal(t, "Acme", in.UserData[1].Data["Aha!"]["company"].Value)
	assert.EqualValues(t, 2, in.ListenerWrites.ByListener["user-data"])
	assert.EqualValues(t, 1, in.ListenerWrites.ByUser["tester9000@example.com"])
	route := "POST " + cc.AssumptionSourcePath
	assert.Equal(t, map[int]int64{201: 1, 400: 1, 401: 1}, in.Requests.ByRoute[route])
	assert.EqualValues(t, 5, in.Requests.Total, "/__sim/ requests are not counted")
	assert.NotContains(t, a.Raw, key, "inspection never shows the API key")

	a = do(t, http.MethodGet, s.URL()+"/__sim/inspect?summary=1", "", nil)
	assert.NotContains(t, a.Body, "feedback")
	assert.EqualValues(t, 1, a.Body["feedback_count"])

	require.Equal(t, http.StatusOK, postJSON(t, s.URL()+"/__sim/reset", nil).Status)
	in = s.Inspect(false)
	assert.Zero(t, in.FeedbackCount)
	assert.Zero(t, in.Requests.Total)
	assert.Empty(t, in.UserData)
	assert.Equal(t, 10006, in.UserCount)
}

func TestConfigValidation(t *testing.T) {
	_, err := cc.New(cc.Config{
		Sources: []cc.Source{
			{ProjectKey: "p", Key: "s", Elements: []cc.Element{{Name: "Sev", Kind: cc.KindChoice}, {Name: "X", Kind: "matrix"}},
				ExternalReferenceElement: "Ref"},
		},
		Listeners: []cc.Listener{{Key: "l", Target: cc.TargetUser, Action: cc.ActionComment}, {Key: "m", Target: cc.TargetFeedback, Action: cc.ActionRunMacro, Macro: "ghost"}},
		Macros:    []cc.Macro{{Name: "auto", Trigger: cc.TriggerStatusChange}, {Name: "bad", BodyTemplate: "{{.Nope"}},
	})
	require.Error(t, err)
	for _, want := range []string{"API key", `"Sev": a choice element needs options`, `unknown kind "matrix"`, `"Ref" is not an element`,
		"user listener supports only store_data", `unknown macro "ghost"`, "needs a status_filter", "body template"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestStatusAnyMacro(t *testing.T) {
	hook, got := receiver(t, http.StatusOK)
	s := start(t, func(c *cc.Config) {
		c.Macros = []cc.Macro{{Name: "status", Trigger: cc.TriggerStatusChange, StatusFilter: []string{cc.StatusAny}, URL: hook.URL + "/webhooks/centercode/status",
			BodyTemplate: `{"feedbackId": {{.FeedbackID}}, "oldStatus": {{json .OldStatus}}, "newStatus": {{json .Status}}, "when": {{json .Time}}}`}}
	})
	created := postJSON(t, s.SourceURL("beta", "bugs"), bug("x", nil))
	id := int64(created.Body["id"].(float64))
	for _, st := range []string{"In Review", "Will Fix", "Fixed"} {
		_, fired, err := s.SetStatus(id, st)
		require.NoError(t, err)
		require.Equal(t, 1, fired)
		require.NoError(t, s.WaitDeliveries(context.Background()))
	}
	reqs := got.all()
	require.Len(t, reqs, 3)
	assert.Equal(t, "Will Fix", reqs[1].Body["newStatus"])
	assert.Equal(t, "In Review", reqs[1].Body["oldStatus"])
	assert.NotEmpty(t, reqs[2].Body["when"])
}
