package centercode

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// Comment is a comment on a feedback item.
type Comment struct {
	Text     string    `json:"text"`
	Listener string    `json:"listener,omitempty"`
	Time     time.Time `json:"time"`
}

// StatusChange is one entry of a feedback's status history.
type StatusChange struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	By   string    `json:"by"` // "source", "sim", "listener:<key>"
	Time time.Time `json:"time"`
}

// Feedback is a stored feedback item as the record lookup and inspection show it.
type Feedback struct {
	ID                int64                        `json:"id"`
	ProjectKey        string                       `json:"projectKey"`
	SourceKey         string                       `json:"sourceKey"`
	FeedbackType      string                       `json:"feedbackType"`
	Status            string                       `json:"status"`
	Submitter         string                       `json:"submitter"`
	Elements          map[string]any               `json:"elements"`
	CustomData        map[string]map[string]string `json:"customData"`
	Comments          []Comment                    `json:"comments"`
	ExternalReference string                       `json:"externalReference,omitempty"`
	StatusHistory     []StatusChange               `json:"statusHistory"`
	Created           time.Time                    `json:"created"`
	Updated           time.Time                    `json:"updated"`
}

type feedbackState struct {
	Feedback
	title, description string
}

func (f *feedbackState) snapshot() Feedback {
	out := f.Feedback
	out.Elements = make(map[string]any, len(f.Elements))
	for k, v := range f.Elements {
		if ss, ok := v.([]string); ok {
			v = append([]string(nil), ss...)
		}
		out.Elements[k] = v
	}
	out.CustomData = make(map[string]map[string]string, len(f.CustomData))
	for g, kv := range f.CustomData {
		m := make(map[string]string, len(kv))
		for k, v := range kv {
			m[k] = v
		}
		out.CustomData[g] = m
	}
	out.Comments = append([]Comment{}, f.Comments...)
	out.StatusHistory = append([]StatusChange{}, f.StatusHistory...)
	return out
}

// valueError is one rejected parameter (Assumption 3).
type valueError struct {
	Element string   `json:"element"`
	Reason  string   `json:"reason"`
	Options []string `json:"options,omitempty"`
}

func (e valueError) message() string { return fmt.Sprintf("element %q: %s", e.Element, e.Reason) }

// validationBody is the 400 body for bad values: the first problem at the top level,
// all of them under "errors".
type validationBody struct {
	apiError
	Errors []valueError `json:"errors"`
}

func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	src := s.sources[r.PathValue("projectKey")+"/"+r.PathValue("sourceKey")]
	if src == nil {
		writeError(w, http.StatusNotFound, "not_found", "unknown external source", "")
		return
	}
	// centercode.md "Known": the body must be JSON encoded, a real object, not form data.
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		writeError(w, http.StatusBadRequest, "invalid_body", "the body must be JSON (Content-Type: application/json)", "")
		return
	}
	var body any
	if err := simkit.ReadJSON(r, maxBody, &body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", "the body is not valid JSON: "+err.Error(), "")
		return
	}
	obj, ok := body.(map[string]any)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_body", "the body must be a JSON object", "")
		return
	}
	values, submitter, status, errs := s.validate(src, obj)
	if len(errs) > 0 {
		first := errs[0]
		simkit.WriteJSON(w, AssumptionBadValueStatus, validationBody{
			apiError: apiError{Error: "invalid_parameter", Message: first.message(), Element: first.Element,
				Reason: first.Reason, Options: first.Options},
			Errors: errs,
		})
		return
	}
	now := s.now().UTC()
	s.mu.Lock()
	id := s.nextID
	s.nextID++
	f := &feedbackState{Feedback: Feedback{
		ID: id, ProjectKey: src.ProjectKey, SourceKey: src.Key, FeedbackType: src.FeedbackType,
		Status: status, Submitter: submitter, Elements: values,
		CustomData: map[string]map[string]string{}, Created: now, Updated: now,
		StatusHistory: []StatusChange{{To: status, By: "source", Time: now}},
	}}
	if src.ExternalReferenceElement != "" {
		f.ExternalReference = valueString(values[src.ExternalReferenceElement])
	}
	f.title = valueString(values[src.TitleElement])
	f.description = valueString(values[src.DescriptionElement])
	s.feedback[id] = f
	shape := s.submitShape
	if s.noIDRate > 0 && s.noIDRng.Float64() < s.noIDRate {
		shape = SubmitNoID
	}
	s.mu.Unlock()

	if s.faults.AfterCommit(w, r) {
		return
	}
	switch shape {
	case SubmitID:
		simkit.WriteJSON(w, AssumptionSuccessStatus, map[string]any{"id": id, "status": status})
	case SubmitFeedbackID:
		simkit.WriteJSON(w, AssumptionSuccessStatus, map[string]any{"feedbackId": id})
	case SubmitNested:
		simkit.WriteJSON(w, http.StatusOK, map[string]any{"feedback": map[string]any{"id": id, "status": status}})
	case SubmitNoID:
		simkit.WriteJSON(w, http.StatusAccepted, map[string]any{"result": "queued"})
	default:
		simkit.WriteJSON(w, AssumptionSuccessStatus, map[string]any{"id": id, "feedbackId": id, "status": status})
	}
}

// validate maps the body onto the source's elements and checks every value.
func (s *Server) validate(src *compiledSource, body map[string]any) (map[string]any, string, string, []valueError) {
	var errs []valueError
	values := map[string]any{}
	for i, e := range src.Elements {
		raw, present := extract(src.paths[i], body)
		if !present || isEmpty(raw) {
			if e.Required {
				errs = append(errs, valueError{Element: e.Name, Reason: "required parameter is missing or empty"})
			}
			continue
		}
		v, ve := checkValue(e, raw)
		if ve != nil {
			errs = append(errs, *ve)
			continue
		}
		values[e.Name] = v
	}

	// Known: no default submitter → Submitter is required and must match a
	// user (by email). Assumed (AssumptionSubmitterParam): a Submitter
	// given to a source with a default must match a user too, and wins.
	submitter := src.DefaultSubmitter
	raw, _ := body[ParamSubmitter].(string)
	switch {
	case strings.TrimSpace(raw) == "" && submitter == "":
		errs = append(errs, valueError{Element: ParamSubmitter, Reason: "required parameter is missing or empty (the source has no default submitter)"})
	case strings.TrimSpace(raw) == "":
	case !s.hasUser(raw):
		errs = append(errs, valueError{Element: ParamSubmitter, Reason: fmt.Sprintf("no user with email %q", raw)})
	default:
		submitter = normEmail(raw)
	}
	// Known: no starting status → Status is required.
	status := src.StartingStatus
	if status == "" {
		raw, _ := body[ParamStatus].(string)
		switch {
		case strings.TrimSpace(raw) == "":
			errs = append(errs, valueError{Element: ParamStatus, Reason: "required parameter is missing or empty (the source has no starting status)"})
		case len(src.statuses) > 0 && !src.statuses[raw]:
			errs = append(errs, valueError{Element: ParamStatus, Reason: fmt.Sprintf("%q is not a status of this workflow", raw), Options: src.Statuses})
		default:
			status = raw
		}
	}
	return values, submitter, status, errs
}

func extract(x interface{ Get(any) []any }, body map[string]any) (any, bool) {
	res := x.Get(body)
	if len(res) == 0 {
		return nil, false
	}
	return res[0], true
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(t) == ""
	case []any:
		return len(t) == 0
	}
	return false
}

// scalarString renders a JSON scalar as a string; ok is false for objects and arrays.
func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// checkValue validates one element value and returns its stored form.
func checkValue(e Element, raw any) (any, *valueError) {
	bad := func(format string, args ...any) *valueError {
		return &valueError{Element: e.Name, Reason: fmt.Sprintf(format, args...)}
	}
	if e.Kind == KindMultiChoice {
		var items []string
		switch t := raw.(type) {
		case string: // comma-joined
			for _, p := range strings.Split(t, ",") {
				if p = strings.TrimSpace(p); p != "" {
					items = append(items, p)
				}
			}
		case []any:
			for _, it := range t {
				sv, ok := scalarString(it)
				if !ok {
					return nil, bad("multiple choice values must be strings")
				}
				items = append(items, strings.TrimSpace(sv))
			}
		default:
			return nil, bad("multiple choice value must be a comma-separated string or an array of strings")
		}
		for _, it := range items {
			if !contains(e.Options, it) {
				ve := bad("value %q is not one of the options: %s", it, strings.Join(e.Options, ", "))
				ve.Options = e.Options
				return nil, ve
			}
		}
		return items, nil
	}
	if _, isArr := raw.([]any); isArr {
		// Known: only one value per parameter can be taken from an array (Simulator
		// choice: an array where one value is expected is rejected, not truncated).
		return nil, bad("an array was sent where one value is expected (one value per parameter; use [N] in the element's path)")
	}
	str, ok := scalarString(raw)
	if !ok {
		return nil, bad("an object was sent where a value is expected")
	}
	switch e.Kind {
	case KindChoice:
		if !contains(e.Options, str) {
			ve := bad("value %q is not one of the options: %s", str, strings.Join(e.Options, ", "))
			ve.Options = e.Options
			return nil, ve
		}
		return str, nil
	case KindAttachment:
		// Assumption 6 (centercode.md): attachments are URLs Centercode fetches.
		u, err := url.Parse(str)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, bad("attachment must be an http(s) URL")
		}
		return str, nil
	case KindEmail:
		a, err := mail.ParseAddress(str)
		if err != nil || a.Address != strings.TrimSpace(str) {
			return nil, bad("value %q is not an email address", str)
		}
		return a.Address, nil
	case KindNumber:
		f, err := strconv.ParseFloat(strings.TrimSpace(str), 64)
		if err != nil {
			return nil, bad("value %q is not a number", str)
		}
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), nil
	case KindDate:
		str = strings.TrimSpace(str)
		for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
			if _, err := time.Parse(layout, str); err == nil {
				return str, nil
			}
		}
		return nil, bad("value %q is not a date (YYYY-MM-DD or RFC 3339)", str)
	case KindRating:
		n, err := strconv.Atoi(strings.TrimSpace(str))
		if err != nil || n < 1 || n > e.RatingMax {
			return nil, bad("value %q is not a rating from 1 to %d", str, e.RatingMax)
		}
		return n, nil
	default:
		// Assumption 6 (centercode.md): text is plain text or simple HTML, stored as sent.
		return str, nil
	}
}

// statusMatches reports whether status is named by filter ("*" matches every change).
// Simulator choice: status names compare case-insensitively, as ahacc's status_rules do.
func statusMatches(filter []string, status string) bool {
	for _, f := range filter {
		if f == StatusAny || strings.EqualFold(strings.TrimSpace(f), status) {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, o := range list {
		if o == v {
			return true
		}
	}
	return false
}

// valueString renders a stored element value for comparisons and macro data.
func valueString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case []string:
		return strings.Join(t, ", ")
	case int:
		return strconv.Itoa(t)
	}
	s, _ := scalarString(v)
	return s
}

func (s *Server) handleGetFeedback(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "unknown feedback", "")
		return
	}
	f, ok := s.Feedback(id)
	if !ok || f.ProjectKey != r.PathValue("projectKey") {
		writeError(w, http.StatusNotFound, "not_found", "unknown feedback", "")
		return
	}
	simkit.WriteJSON(w, http.StatusOK, f)
}

// handleLookup implements AssumptionLookupByElement.
func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	off := s.lookupOff
	s.mu.Unlock()
	if off {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint", "")
		return
	}
	q := r.URL.Query()
	if q.Has(s.refParam) {
		data := s.LookupByReference(r.PathValue("projectKey"), q.Get(s.refParam))
		simkit.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
		return
	}
	element, value := q.Get("element"), q.Get("value")
	if element == "" || !q.Has("value") {
		writeError(w, http.StatusBadRequest, "invalid_parameter",
			"element and value (or "+s.refParam+") query parameters are required", "element")
		return
	}
	data := s.LookupByElement(r.PathValue("projectKey"), element, value)
	simkit.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
}

// LookupByElement returns the project's feedback whose element value equals value
// (multiple choice values compare as "A, B"), oldest first (AssumptionLookupByElement).
func (s *Server) LookupByElement(projectKey, element, value string) []Feedback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Feedback{}
	for _, f := range s.feedback {
		if f.ProjectKey != projectKey {
			continue
		}
		v, ok := f.Elements[element]
		if ok && valueString(v) == value {
			out = append(out, f.snapshot())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LookupByReference returns the project's feedback whose external reference (the value
// of its source's ExternalReferenceElement) equals ref, oldest first.
func (s *Server) LookupByReference(projectKey, ref string) []Feedback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Feedback{}
	for _, f := range s.feedback {
		if f.ProjectKey == projectKey && f.ExternalReference != "" && f.ExternalReference == ref {
			out = append(out, f.snapshot())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Feedback returns one stored feedback item.
func (s *Server) Feedback(id int64) (Feedback, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.feedback[id]
	if f == nil {
		return Feedback{}, false
	}
	return f.snapshot(), true
}

// FeedbackList returns every stored feedback item, by id.
func (s *Server) FeedbackList() []Feedback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Feedback, 0, len(s.feedback))
	for _, f := range s.feedback {
		out = append(out, f.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ErrUnknownFeedback is returned for a feedback id the simulator does not hold.
var ErrUnknownFeedback = errors.New("unknown feedback")

// SetStatus changes a feedback's status (as a program manager would) and fires the
// automatic macros whose filter names the new status; it returns the old status and the
// number of macro runs started (delivered in the background).
func (s *Server) SetStatus(id int64, status string) (old string, fired int, err error) {
	return s.setStatus(id, status, "sim")
}

func (s *Server) setStatus(id int64, status, by string) (string, int, error) {
	status = strings.TrimSpace(status)
	if status == "" {
		return "", 0, errors.New("status is empty")
	}
	s.mu.Lock()
	f := s.feedback[id]
	if f == nil {
		s.mu.Unlock()
		return "", 0, fmt.Errorf("%w %d", ErrUnknownFeedback, id)
	}
	if src := s.sources[f.ProjectKey+"/"+f.SourceKey]; src != nil && len(src.statuses) > 0 && !src.statuses[status] {
		s.mu.Unlock()
		return "", 0, fmt.Errorf("%q is not a status of feedback type %s", status, f.FeedbackType)
	}
	old := f.Status
	if old == status {
		s.mu.Unlock()
		return old, 0, nil
	}
	now := s.now().UTC()
	f.Status = status
	f.Updated = now
	f.StatusHistory = append(f.StatusHistory, StatusChange{From: old, To: status, By: by, Time: now})
	var runs []macroRun
	for _, m := range s.sortedMacros() {
		if m.Trigger != TriggerStatusChange || !statusMatches(m.StatusFilter, status) {
			continue
		}
		if len(m.FeedbackTypes) > 0 && !contains(m.FeedbackTypes, f.FeedbackType) {
			continue
		}
		runs = append(runs, s.prepareRunLocked(m, f, old, "status_change"))
	}
	s.mu.Unlock()
	for _, run := range runs {
		s.deliverAsync(run)
	}
	return old, len(runs), nil
}
