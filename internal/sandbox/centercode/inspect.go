package centercode

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// RequestStats counts the /api/ requests received (including 401/403/404/429 and
// injected faults; status 0 = connection dropped after commit).
type RequestStats struct {
	Total int64 `json:"total"`
	// ByRoute is route ("POST /api/v1/listeners/{listenerKey}") → status → count.
	ByRoute map[string]map[int]int64 `json:"by_route"`
	// ByStatus is status → count over every route.
	ByStatus map[int]int64 `json:"by_status"`
	// RateLimited is the number of 429 answers.
	RateLimited int64 `json:"rate_limited"`
	// Recent are the last requests received (bounded, Config.RecorderSize).
	Recent []simkit.RequestRecord `json:"recent,omitempty"`
}

// RateLimitState is the current rate limit and its counters.
type RateLimitState struct {
	PerSecond int   `json:"per_second"`
	PerMinute int   `json:"per_minute"`
	Allowed   int64 `json:"allowed"`
	Limited   int64 `json:"limited"`
}

// Inspection is everything the simulator received, as GET /__sim/inspect shows it
// (with ?summary=1 the feedback, user data, delivery and recent request lists are left out).
type Inspection struct {
	FeedbackCount   int                 `json:"feedback_count"`
	FeedbackByType  map[string]int      `json:"feedback_by_type"`
	Feedback        []Feedback          `json:"feedback,omitempty"`
	UserCount       int                 `json:"user_count"`
	UserData        []UserRecord        `json:"user_data,omitempty"` // users with stored data, per data group
	ListenerWrites  ListenerWriteCounts `json:"listener_writes"`
	DeliveryCount   int                 `json:"macro_delivery_count"`
	MacroDeliveries []Delivery          `json:"macro_deliveries,omitempty"`
	Requests        RequestStats        `json:"requests"`
	Faults          simkit.FaultStats   `json:"faults"`
	RateLimit       RateLimitState      `json:"rate_limit"`
}

// Requests returns the request counts.
func (s *Server) Requests() RequestStats {
	st := RequestStats{Total: s.recorder.Total(), ByRoute: s.recorder.Counts(), ByStatus: s.recorder.StatusCounts()}
	st.RateLimited = st.ByStatus[http.StatusTooManyRequests]
	return st
}

// Inspect returns everything the simulator received; summary leaves out the long lists.
func (s *Server) Inspect(summary bool) Inspection {
	fb := s.FeedbackList()
	in := Inspection{
		FeedbackCount:  len(fb),
		FeedbackByType: map[string]int{},
		UserCount:      s.UserCount(),
		ListenerWrites: s.ListenerWrites(),
		Requests:       s.Requests(),
		Faults:         s.faults.Stats(),
	}
	for _, f := range fb {
		in.FeedbackByType[f.FeedbackType]++
	}
	del := s.Deliveries()
	in.DeliveryCount = len(del)
	in.RateLimit.PerSecond, in.RateLimit.PerMinute = s.limiter.Limits()
	in.RateLimit.Allowed, in.RateLimit.Limited = s.limiter.Counts()
	if summary {
		in.ListenerWrites.Recent = nil
		return in
	}
	in.Feedback = fb
	in.UserData = s.usersWithData()
	in.MacroDeliveries = del
	in.Requests.Recent = s.recorder.Entries()
	return in
}

// Reset forgets feedback, user data, listener writes, macro deliveries, request counts,
// fault counters and rate-limit windows. Users, configuration and the id sequence stay.
func (s *Server) Reset() {
	s.mu.Lock()
	s.feedback = map[int64]*feedbackState{}
	for _, u := range s.users {
		u.data = map[string]map[string]DataValue{}
	}
	s.writes.init()
	s.deliveries = nil
	s.mu.Unlock()
	s.recorder.Reset()
	s.faults.ResetStats()
	s.limiter.Reset()
}

func (s *Server) handleInspect(w http.ResponseWriter, r *http.Request) {
	summary := r.URL.Query().Get("summary")
	simkit.WriteJSON(w, http.StatusOK, s.Inspect(summary != "" && summary != "0" && summary != "false"))
}

func simError(w http.ResponseWriter, status int, msg string) {
	simkit.WriteJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) handleSimFeedback(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f, ok := s.Feedback(id)
	if !ok {
		simError(w, http.StatusNotFound, "unknown feedback")
		return
	}
	simkit.WriteJSON(w, http.StatusOK, f)
}

func (s *Server) handleSimStatus(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var body struct {
		Status string `json:"status"`
	}
	if err := simkit.ReadJSON(r, maxBody, &body); err != nil {
		simError(w, http.StatusBadRequest, "body must be {\"status\": \"...\"}: "+err.Error())
		return
	}
	old, fired, err := s.SetStatus(id, body.Status)
	switch {
	case errors.Is(err, ErrUnknownFeedback):
		simError(w, http.StatusNotFound, err.Error())
	case err != nil:
		simError(w, http.StatusBadRequest, err.Error())
	default:
		simkit.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "oldStatus": old, "status": body.Status, "macrosFired": fired})
	}
}

func (s *Server) handleSimRunMacro(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := simkit.ReadJSON(r, maxBody, &body); err != nil {
		simError(w, http.StatusBadRequest, "body must be {\"feedbackId\": N}: "+err.Error())
		return
	}
	id, ok := feedbackIDOf(body["feedbackId"])
	if !ok {
		simError(w, http.StatusBadRequest, "feedbackId is required")
		return
	}
	d, err := s.RunMacro(r.Context(), r.PathValue("name"), id)
	switch {
	case errors.Is(err, ErrUnknownMacro), errors.Is(err, ErrUnknownFeedback):
		simError(w, http.StatusNotFound, err.Error())
	case err != nil:
		simError(w, http.StatusInternalServerError, err.Error())
	default:
		simkit.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": d})
	}
}

func (s *Server) handleSimDuplicate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Enabled bool `json:"enabled"`
	}
	if err := simkit.ReadJSON(r, maxBody, &body); err != nil {
		simError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.SetDuplicateMacroDelivery(body.Enabled)
	simkit.WriteJSON(w, http.StatusOK, body)
}

func (s *Server) handleSimUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.User(r.PathValue("email"))
	if !ok {
		simError(w, http.StatusNotFound, "unknown user")
		return
	}
	simkit.WriteJSON(w, http.StatusOK, u)
}

// AddUsersRequest is the body of POST /__sim/users.
type AddUsersRequest struct {
	Users    []User `json:"users"`
	Generate *struct {
		Count  int    `json:"count"`
		Domain string `json:"domain"`
	} `json:"generate"`
}

func (s *Server) handleSimAddUsers(w http.ResponseWriter, r *http.Request) {
	var body AddUsersRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20))
	if err := dec.Decode(&body); err != nil {
		simError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.AddUsers(body.Users...); err != nil {
		simError(w, http.StatusBadRequest, err.Error())
		return
	}
	added := len(body.Users)
	if body.Generate != nil && body.Generate.Count > 0 {
		added += len(s.GenerateUsers(body.Generate.Count, body.Generate.Domain))
	}
	simkit.WriteJSON(w, http.StatusOK, map[string]any{"added": added, "user_count": s.UserCount()})
}

func (s *Server) handleSimFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		var f simkit.Faults
		if err := simkit.ReadJSON(r, maxBody, &f); err != nil {
			simError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.SetFaults(f)
	}
	simkit.WriteJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) handleSimRateLimit(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		var rl RateLimit
		if err := simkit.ReadJSON(r, maxBody, &rl); err != nil {
			simError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.SetRateLimit(rl.PerSecond, rl.PerMinute)
	}
	ps, pm := s.limiter.Limits()
	simkit.WriteJSON(w, http.StatusOK, RateLimit{PerSecond: ps, PerMinute: pm})
}

func (s *Server) handleSimAPIKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Disabled bool `json:"disabled"`
	}
	if err := simkit.ReadJSON(r, maxBody, &body); err != nil {
		simError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.SetAPIKeyEnabled(r.PathValue("key"), !body.Disabled)
	simkit.WriteJSON(w, http.StatusOK, map[string]bool{"disabled": body.Disabled})
}

func (s *Server) handleSimReset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	simkit.WriteJSON(w, http.StatusOK, map[string]string{"result": "reset"})
}
