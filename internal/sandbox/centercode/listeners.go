package centercode

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// DataValue is one stored key/value pair of a data group.
type DataValue struct {
	Label   string    `json:"label"`
	Value   string    `json:"value"`
	Updated time.Time `json:"updated"`
}

// ListenerWrite is one accepted listener call.
type ListenerWrite struct {
	Listener   string    `json:"listener"`
	Target     string    `json:"target"` // user email or feedback id
	Action     string    `json:"action"`
	Stored     int       `json:"stored,omitempty"`
	Cleared    int       `json:"cleared,omitempty"`
	Time       time.Time `json:"time"`
	FeedbackID int64     `json:"feedbackId,omitempty"`
}

// ListenerWriteCounts counts accepted listener writes.
type ListenerWriteCounts struct {
	Total       int64            `json:"total"`
	ByListener  map[string]int64 `json:"by_listener"`
	ByUser      map[string]int64 `json:"by_user"`     // normalised email → writes
	ByFeedback  map[int64]int64  `json:"by_feedback"` // feedback id → writes
	Recent      []ListenerWrite  `json:"recent"`      // the last maxRecentWrites writes
	RecentLimit int              `json:"recent_limit"`
}

const maxRecentWrites = 1000

type listenerWrites struct {
	total      int64
	byListener map[string]int64
	byUser     map[string]int64
	byFeedback map[int64]int64
	recent     []ListenerWrite
}

func (lw *listenerWrites) init() {
	*lw = listenerWrites{byListener: map[string]int64{}, byUser: map[string]int64{}, byFeedback: map[int64]int64{}}
}

func (lw *listenerWrites) add(w ListenerWrite) {
	lw.total++
	lw.byListener[w.Listener]++
	if w.FeedbackID != 0 {
		lw.byFeedback[w.FeedbackID]++
	} else {
		lw.byUser[w.Target]++
	}
	if len(lw.recent) >= maxRecentWrites {
		copy(lw.recent, lw.recent[1:])
		lw.recent = lw.recent[:len(lw.recent)-1]
	}
	lw.recent = append(lw.recent, w)
}

func (s *Server) handleListener(w http.ResponseWriter, r *http.Request) {
	l, ok := s.listeners[r.PathValue("listenerKey")]
	if !ok {
		// Assumption 3 (centercode.md): 404 for an unknown listener.
		writeError(w, http.StatusNotFound, "not_found", "unknown listener", "")
		return
	}
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
	if l.Target == TargetUser {
		s.userListener(w, r, l, obj)
		return
	}
	s.feedbackListener(w, r, l, obj)
}

// pairs turns the body's remaining keys into values to store ("" = clear).
// Assumption 4 (centercode.md): unknown keys are stored, not rejected.
func pairs(obj map[string]any, skip string) (map[string]string, *valueError) {
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		if k == skip {
			continue
		}
		if v == nil {
			out[k] = ""
			continue
		}
		sv, ok := scalarString(v)
		if !ok {
			return nil, &valueError{Element: k, Reason: "value must be a string, number or boolean"}
		}
		out[k] = sv
	}
	return out, nil
}

func writeValueError(w http.ResponseWriter, ve valueError) {
	simkit.WriteJSON(w, AssumptionBadValueStatus, validationBody{
		apiError: apiError{Error: "invalid_parameter", Message: ve.message(), Element: ve.Element, Reason: ve.Reason},
		Errors:   []valueError{ve},
	})
}

// applyData stores kv in group; an empty value clears the key. It returns stored and cleared counts.
func applyData(data map[string]map[string]DataValue, group string, labels map[string]string, kv map[string]string, now time.Time) (int, int) {
	g := data[group]
	if g == nil {
		g = map[string]DataValue{}
		data[group] = g
	}
	stored, cleared := 0, 0
	for k, v := range kv {
		if v == "" {
			delete(g, k)
			cleared++
			continue
		}
		label := labels[k]
		if label == "" {
			label = k
		}
		g[k] = DataValue{Label: label, Value: v, Updated: now}
		stored++
	}
	return stored, cleared
}

func (s *Server) userListener(w http.ResponseWriter, r *http.Request, l Listener, obj map[string]any) {
	email, _ := obj[AssumptionListenerUserKey].(string)
	if strings.TrimSpace(email) == "" {
		writeValueError(w, valueError{Element: AssumptionListenerUserKey, Reason: "required parameter is missing or empty"})
		return
	}
	kv, ve := pairs(obj, AssumptionListenerUserKey)
	if ve != nil {
		writeValueError(w, *ve)
		return
	}
	now := s.now().UTC()
	key := normEmail(email)
	s.mu.Lock()
	u := s.users[key]
	if u == nil {
		s.mu.Unlock()
		// Assumption 4 (centercode.md): an unknown user answers 404.
		writeError(w, http.StatusNotFound, "not_found", "no user with this email", AssumptionListenerUserKey)
		return
	}
	stored, cleared := applyData(u.data, l.DataGroup, l.Labels, kv, now)
	s.writes.add(ListenerWrite{Listener: l.Key, Target: key, Action: string(l.Action), Stored: stored, Cleared: cleared, Time: now})
	s.mu.Unlock()
	if s.faults.AfterCommit(w, r) {
		return
	}
	simkit.WriteJSON(w, http.StatusOK, map[string]any{"result": "ok", "email": key, "dataGroup": l.DataGroup, "stored": stored, "cleared": cleared})
}

func feedbackIDOf(v any) (int64, bool) {
	sv, ok := scalarString(v)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(strings.TrimSpace(sv), 10, 64)
	return id, err == nil && id > 0
}

func (s *Server) feedbackListener(w http.ResponseWriter, r *http.Request, l Listener, obj map[string]any) {
	raw, present := obj[AssumptionListenerFeedbackKey]
	id, ok := feedbackIDOf(raw)
	if !present || !ok {
		writeValueError(w, valueError{Element: AssumptionListenerFeedbackKey, Reason: "required parameter is missing or not a feedback id"})
		return
	}
	var kv map[string]string
	var comment string
	switch l.Action {
	case ActionStoreData:
		var ve *valueError
		if kv, ve = pairs(obj, AssumptionListenerFeedbackKey); ve != nil {
			writeValueError(w, *ve)
			return
		}
	case ActionComment:
		comment, _ = obj["comment"].(string)
		if strings.TrimSpace(comment) == "" {
			writeValueError(w, valueError{Element: "comment", Reason: "required parameter is missing or empty"})
			return
		}
	}
	now := s.now().UTC()
	s.mu.Lock()
	f := s.feedback[id]
	if f == nil {
		s.mu.Unlock()
		// Simulator choice, by analogy with Assumption 4's unknown user: unknown feedback → 404.
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no feedback %d", id), AssumptionListenerFeedbackKey)
		return
	}
	rec := ListenerWrite{Listener: l.Key, Target: strconv.FormatInt(id, 10), FeedbackID: id, Action: string(l.Action), Time: now}
	var runs []macroRun
	switch l.Action {
	case ActionStoreData:
		g := f.CustomData[l.DataGroup]
		if g == nil {
			g = map[string]string{}
			f.CustomData[l.DataGroup] = g
		}
		for k, v := range kv {
			if v == "" {
				delete(g, k)
				rec.Cleared++
			} else {
				g[k] = v
				rec.Stored++
			}
		}
		f.Updated = now
	case ActionComment:
		f.Comments = append(f.Comments, Comment{Text: comment, Listener: l.Key, Time: now})
		f.Updated = now
	case ActionRunMacro:
		if l.Macro != "" {
			runs = append(runs, s.prepareRunLocked(s.macros[l.Macro], f, f.Status, "listener"))
		}
	}
	s.writes.add(rec)
	s.mu.Unlock()

	resp := map[string]any{"result": "ok", "feedbackId": id}
	if l.Action == ActionRunMacro && l.SetStatus != "" {
		old, fired, err := s.setStatus(id, l.SetStatus, "listener:"+l.Key)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_parameter", err.Error(), "")
			return
		}
		resp["oldStatus"], resp["status"], resp["macrosFired"] = old, l.SetStatus, fired
	}
	for _, run := range runs {
		s.deliverAsync(run)
	}
	if s.faults.AfterCommit(w, r) {
		return
	}
	simkit.WriteJSON(w, http.StatusOK, resp)
}

// ListenerWrites returns the listener write counts and the most recent writes.
func (s *Server) ListenerWrites() ListenerWriteCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ListenerWriteCounts{
		Total:       s.writes.total,
		ByListener:  make(map[string]int64, len(s.writes.byListener)),
		ByUser:      make(map[string]int64, len(s.writes.byUser)),
		ByFeedback:  make(map[int64]int64, len(s.writes.byFeedback)),
		Recent:      append([]ListenerWrite{}, s.writes.recent...),
		RecentLimit: maxRecentWrites,
	}
	for k, v := range s.writes.byListener {
		out.ByListener[k] = v
	}
	for k, v := range s.writes.byUser {
		out.ByUser[k] = v
	}
	for k, v := range s.writes.byFeedback {
		out.ByFeedback[k] = v
	}
	return out
}

// UserWrites returns how many listener writes reached the user with this email.
func (s *Server) UserWrites(email string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes.byUser[normEmail(email)]
}

// FeedbackWrites returns how many listener writes reached this feedback.
func (s *Server) FeedbackWrites(id int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes.byFeedback[id]
}

// userState is a user with their data groups.
type userState struct {
	User
	data map[string]map[string]DataValue // group → key → value
}

// UserRecord is a user with their data groups, as inspection shows it.
type UserRecord struct {
	User
	Data map[string]map[string]DataValue `json:"data"`
}

// AddUsers adds (or, for a known email, renames) users. Emails match case-insensitively.
func (s *Server) AddUsers(users ...User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, u := range users {
		key := normEmail(u.Email)
		if key == "" || !strings.Contains(key, "@") {
			return fmt.Errorf("users[%d]: invalid email %q", i, u.Email)
		}
		if ex := s.users[key]; ex != nil {
			ex.FirstName, ex.LastName = u.FirstName, u.LastName
			continue
		}
		u.Email = key
		if u.ID == 0 {
			u.ID = s.nextUserID
		}
		if u.ID >= s.nextUserID {
			s.nextUserID = u.ID + 1
		}
		s.users[key] = &userState{User: u, data: map[string]map[string]DataValue{}}
		s.userOrder = append(s.userOrder, key)
	}
	return nil
}

// GenerateUsers adds n testers named "Tester <i>" with emails tester<i>@<domain>
// (domain default example.com), numbered after the existing generated ones, and
// returns them.
func (s *Server) GenerateUsers(n int, domain string) []User {
	if domain == "" {
		domain = "example.com"
	}
	s.mu.Lock()
	start := len(s.userOrder) + 1
	s.mu.Unlock()
	out := make([]User, 0, n)
	for i := start; len(out) < n; i++ {
		email := fmt.Sprintf("tester%d@%s", i, domain)
		if s.hasUser(email) {
			continue
		}
		out = append(out, User{FirstName: "Tester", LastName: strconv.Itoa(i), Email: email})
	}
	_ = s.AddUsers(out...) // generated emails are valid
	return out
}

func (s *Server) hasUser(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[normEmail(email)] != nil
}

// User returns one user with their data groups.
func (s *Server) User(email string) (UserRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[normEmail(email)]
	if u == nil {
		return UserRecord{}, false
	}
	return u.record(), true
}

func (u *userState) record() UserRecord {
	out := UserRecord{User: u.User, Data: make(map[string]map[string]DataValue, len(u.data))}
	for g, kv := range u.data {
		m := make(map[string]DataValue, len(kv))
		for k, v := range kv {
			m[k] = v
		}
		out.Data[g] = m
	}
	return out
}

// UserData returns group → key → value for the user (nil for an unknown user).
func (s *Server) UserData(email string) map[string]map[string]string {
	rec, ok := s.User(email)
	if !ok {
		return nil
	}
	out := make(map[string]map[string]string, len(rec.Data))
	for g, kv := range rec.Data {
		m := make(map[string]string, len(kv))
		for k, v := range kv {
			m[k] = v.Value
		}
		out[g] = m
	}
	return out
}

// UserCount returns the number of users.
func (s *Server) UserCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// usersWithData returns the users that have any stored data, by email.
func (s *Server) usersWithData() []UserRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []UserRecord
	for _, key := range s.userOrder {
		u := s.users[key]
		if len(u.data) > 0 {
			out = append(out, u.record())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out
}
