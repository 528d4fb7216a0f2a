package aha

import (
	"net/http"
	"strconv"
	"time"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// faultsWire is the JSON form of simkit.Faults on /__sim/faults (durations in ms).
type faultsWire struct {
	ErrorRate            float64 `json:"error_rate"`
	ErrorCodes           []int   `json:"error_codes"`
	LatencyMS            int64   `json:"latency_ms"`
	CommitTimeoutRate    float64 `json:"commit_timeout_rate"`
	CommitTimeoutDelayMS int64   `json:"commit_timeout_delay_ms"`
	Seed                 int64   `json:"seed"`
}

func toWire(f simkit.Faults) faultsWire {
	return faultsWire{f.ErrorRate, f.ErrorCodes, f.Latency.Milliseconds(), f.CommitTimeoutRate, f.CommitTimeoutDelay.Milliseconds(), f.Seed}
}

func (w faultsWire) faults() simkit.Faults {
	return simkit.Faults{ErrorRate: w.ErrorRate, ErrorCodes: w.ErrorCodes, Latency: time.Duration(w.LatencyMS) * time.Millisecond,
		CommitTimeoutRate: w.CommitTimeoutRate, CommitTimeoutDelay: time.Duration(w.CommitTimeoutDelayMS) * time.Millisecond, Seed: w.Seed}
}

// RequestStats summarises the API requests received.
type RequestStats struct {
	Total       int64                       `json:"total"`
	ByRoute     map[string]map[string]int64 `json:"by_route"`  // route → status → count
	ByStatus    map[string]int64            `json:"by_status"` // status → count ("0" = dropped)
	RateLimited int64                       `json:"rate_limited"`
	Recent      []simkit.RequestRecord      `json:"recent"`
}

// RequestStats returns request counts by route and status (and the last 100 requests).
func (s *Server) RequestStats() RequestStats {
	rs := RequestStats{Total: s.requests.Total(), ByRoute: map[string]map[string]int64{}, ByStatus: map[string]int64{}}
	for route, m := range s.requests.Counts() {
		rm := map[string]int64{}
		for st, n := range m {
			rm[strconv.Itoa(st)] = n
			rs.ByStatus[strconv.Itoa(st)] += n
			if st == http.StatusTooManyRequests {
				rs.RateLimited += n
			}
		}
		rs.ByRoute[route] = rm
	}
	e := s.requests.Entries()
	if len(e) > 100 {
		e = e[len(e)-100:]
	}
	rs.Recent = e
	return rs
}

// Inspection and control endpoints (no auth; the simulator listens on loopback):
//
//	GET  /__sim/state         record counts, fault stats, rate limits, webhook config
//	GET  /__sim/requests      request counts by route and status, 429 count, recent requests
//	POST /__sim/requests/reset  forget request counts and the rate-limit windows
//	GET  /__sim/faults        current faults;  PUT /__sim/faults  replace them (faultsWire JSON)
//	GET  /__sim/rate_limits   {"per_second","per_minute"};  PUT to change them (0 disables)
//	GET  /__sim/deliveries    webhook deliveries made (and suppressed)
//	PUT  /__sim/webhook       {"url": "...", "suppress": bool}
//	GET  /__sim/audits        every audit (REST form)
func (s *Server) inspectRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /__sim/state", func(w http.ResponseWriter, r *http.Request) {
		ps, pm := s.limiter.Limits()
		u, suppress := s.hooks.config()
		simkit.WriteJSON(w, http.StatusOK, map[string]any{
			"counts":      s.Counts(),
			"faults":      toWire(s.injector.Get()),
			"fault_stats": s.injector.Stats(),
			"rate_limits": map[string]int{"per_second": ps, "per_minute": pm},
			"webhook": map[string]any{"configured": u != "", "target": target(u), "suppress": suppress,
				"pending": s.hooks.pending(), "delivered": len(s.hooks.deliveries())},
			"base_url":     s.URL(),
			"idea_portals": s.PortalIDs(),
		})
	})
	mux.HandleFunc("GET /__sim/requests", func(w http.ResponseWriter, r *http.Request) {
		simkit.WriteJSON(w, http.StatusOK, s.RequestStats())
	})
	mux.HandleFunc("POST /__sim/requests/reset", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Reset()
		s.limiter.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /__sim/faults", func(w http.ResponseWriter, r *http.Request) {
		simkit.WriteJSON(w, http.StatusOK, toWire(s.injector.Get()))
	})
	mux.HandleFunc("PUT /__sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var fw faultsWire
		if err := simkit.ReadJSON(r, 1<<16, &fw); err != nil {
			simkit.WriteJSON(w, http.StatusBadRequest, errorBody(err.Error()))
			return
		}
		if fw.ErrorRate < 0 || fw.ErrorRate > 1 || fw.CommitTimeoutRate < 0 || fw.CommitTimeoutRate > 1 {
			simkit.WriteJSON(w, http.StatusBadRequest, errorBody("rates must be between 0 and 1"))
			return
		}
		s.injector.Set(fw.faults())
		simkit.WriteJSON(w, http.StatusOK, toWire(s.injector.Get()))
	})
	mux.HandleFunc("GET /__sim/rate_limits", func(w http.ResponseWriter, r *http.Request) {
		ps, pm := s.limiter.Limits()
		simkit.WriteJSON(w, http.StatusOK, map[string]int{"per_second": ps, "per_minute": pm})
	})
	mux.HandleFunc("PUT /__sim/rate_limits", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			PerSecond int `json:"per_second"`
			PerMinute int `json:"per_minute"`
		}
		if err := simkit.ReadJSON(r, 1<<16, &in); err != nil || in.PerSecond < 0 || in.PerMinute < 0 {
			simkit.WriteJSON(w, http.StatusBadRequest, errorBody("body must be {\"per_second\": n, \"per_minute\": n} with n >= 0"))
			return
		}
		s.limiter.SetLimits(in.PerSecond, in.PerMinute)
		simkit.WriteJSON(w, http.StatusOK, in)
	})
	mux.HandleFunc("GET /__sim/deliveries", func(w http.ResponseWriter, r *http.Request) {
		simkit.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": s.Deliveries(), "pending": s.hooks.pending()})
	})
	mux.HandleFunc("PUT /__sim/webhook", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			URL      string `json:"url"`
			Suppress bool   `json:"suppress"`
		}
		if err := simkit.ReadJSON(r, 1<<16, &in); err != nil {
			simkit.WriteJSON(w, http.StatusBadRequest, errorBody(err.Error()))
			return
		}
		s.SetWebhook(in.URL, in.Suppress)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /__sim/audits", func(w http.ResponseWriter, r *http.Request) {
		s.write(w, http.StatusOK, map[string]any{"audits": s.Audits()})
	})
}
