// Package aha is an in-memory simulator of the parts of Aha!'s REST API v1 and activity
// webhook that ahacc uses (see shared/reference/aha.md). It serves ideas, features,
// comments, idea users, portal users, idea organizations and audits with Aha!'s wrapped
// bodies and pagination, Bearer auth, the account-wide rate limit with X-Ratelimit-*
// headers, fault injection (simkit) and activity-webhook delivery. Records are built from
// the example responses in Aha!'s OpenAPI description (fixtures/), so every field Aha!
// returns is present. Inspection and control endpoints live under /__sim/ (no auth).
//
// It is a product feature for the dev stack, demos and tests; it is not Aha!.
package aha

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// Defaults.
const (
	DefaultAPIKey         = "sim-aha-api-key"
	DefaultCompany        = "company"
	DefaultRatePerSecond  = 20  // Aha!: 20 requests per second per account
	DefaultRatePerMinute  = 300 // Aha!: 300 requests per minute per account
	DefaultWebhookTimeout = 5 * time.Second
	// MaxPerPage is Aha!'s largest page size; larger per_page values are clamped.
	MaxPerPage = 200
	// DefaultPerPage is the page size when per_page is absent.
	DefaultPerPage = 30

	// placeholderBase is the base URL stored inside records (it is the one in Aha!'s
	// examples); it is replaced by the simulator's base URL whenever a body is written.
	placeholderBase = "http://company.aha.io"
	rateLimitKey    = "account" // Aha! documents the limit per account: one shared budget
	maxBodyBytes    = 4 << 20
)

// Options configure a Server. The zero value is a seeded simulator with Aha!'s limits.
type Options struct {
	// APIKey is the Bearer token the simulator accepts; default DefaultAPIKey.
	APIKey string
	// Company is the Aha! subdomain the simulator pretends to be (used in texts only).
	Company string
	// BaseURL is used in url/resource fields and webhook auditable_url. Default: the
	// listener's URL after Start, else "http://<company>.aha.io".
	BaseURL string
	// RatePerSecond and RatePerMinute: 0 means the default (20 and 300); negative disables.
	RatePerSecond, RatePerMinute int
	// Faults to inject (simkit); zero = none.
	Faults simkit.Faults
	// WebhookURL receives activity-webhook POSTs; empty = none.
	WebhookURL string
	// WebhookTimeout bounds each delivery; default DefaultWebhookTimeout (Aha!'s 5 s).
	WebhookTimeout time.Duration
	// SuppressWebhooks records audits without delivering them (lost webhooks).
	SuppressWebhooks bool
	// NoSeed starts with no data at all (not even products or the idea portal).
	NoSeed bool
	// SeedPeople adds that many extra idea users (spread over SeedPeople/10+1 extra
	// organizations) to the standard seed; see BulkPeople.
	SeedPeople int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server is the simulator. Create it with New; serve it with Start or as an http.Handler.
type Server struct {
	opts     Options
	log      *slog.Logger
	injector *simkit.Injector
	limiter  *simkit.RateLimiter
	requests *simkit.Recorder
	handler  http.Handler

	mu   sync.Mutex
	st   *state
	base string

	hooks *hookQueue

	srv *http.Server
	ln  net.Listener
}

// New builds a simulator.
func New(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	if opts.Company == "" {
		opts.Company = DefaultCompany
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = DefaultWebhookTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger.With("component", "aha_sim"),
		injector: simkit.NewInjector(opts.Faults),
		limiter:  simkit.NewRateLimiter(rateValue(opts.RatePerSecond, DefaultRatePerSecond), rateValue(opts.RatePerMinute, DefaultRatePerMinute)),
		requests: simkit.NewRecorder(2000),
		base:     strings.TrimRight(opts.BaseURL, "/"),
	}
	if s.base == "" {
		s.base = "http://" + opts.Company + ".aha.io"
	}
	s.st = newState(opts.Now, rand.New(rand.NewSource(1)))
	s.hooks = newHookQueue(s, opts.WebhookURL, opts.SuppressWebhooks, opts.WebhookTimeout)
	if !opts.NoSeed {
		s.seed()
		if opts.SeedPeople > 0 {
			s.BulkPeople(opts.SeedPeople, opts.SeedPeople/10+1)
		}
	}
	// Seeded records keep stable ids (fixtures, docs), but everything made
	// after start gets ids no earlier run of the simulator used: real Aha! ids
	// never repeat, and a Redis that outlives the simulator (REDIS_URL in the
	// dev stack) must not take a new audit for an old duplicate.
	s.st.lastID += runOffset(opts.Now())
	s.handler = s.routes()
	return s
}

// runOffset moves the id counter by the start time: 1000 ids' room per
// microsecond of wall time, wrapping after about three years, and staying
// below 2^63 for every id.
func runOffset(now time.Time) uint64 {
	return uint64(now.UnixMicro()%100_000_000_000_000) * 1000
}

func rateValue(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Start listens on addr (default 127.0.0.1:0) and serves in the background. When
// Options.BaseURL was empty, the listener URL becomes the base URL.
func (s *Server) Start(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("aha sim: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	if s.opts.BaseURL == "" {
		s.base = "http://" + ln.Addr().String()
	}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	srv := s.srv
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve failed", "error", err)
		}
	}()
	return nil
}

// URL returns the simulator's base URL (the API lives under URL()+"/api/v1").
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// SetBaseURL changes the base URL used in url/resource fields (for use behind httptest).
func (s *Server) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = strings.TrimRight(u, "/")
}

// APIKey returns the accepted API key.
func (s *Server) APIKey() string { return s.opts.APIKey }

// Close stops the listener (if started) and the webhook sender; queued deliveries that
// have not started are dropped.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err = srv.Shutdown(ctx); err != nil {
			err = srv.Close()
		}
	}
	s.hooks.close()
	return err
}

// ServeHTTP makes the simulator an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Injector exposes the fault injector (simkit) for tests.
func (s *Server) Injector() *simkit.Injector { return s.injector }

// SetFaults replaces the fault configuration.
func (s *Server) SetFaults(f simkit.Faults) { s.injector.Set(f) }

// SetRateLimits changes the limits (0 disables a window).
func (s *Server) SetRateLimits(perSecond, perMinute int) { s.limiter.SetLimits(perSecond, perMinute) }

// ResetRateLimit forgets the requests counted so far.
func (s *Server) ResetRateLimit() { s.limiter.Reset() }

// Requests exposes the recorder of received API requests.
func (s *Server) Requests() *simkit.Recorder { return s.requests }

// ---- HTTP plumbing ----

type apiHandler func(w http.ResponseWriter, r *http.Request) (status int, body any)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h apiHandler) {
		mux.Handle(pattern, s.wrap(h))
	}
	// Ideas.
	api("GET /api/v1/ideas", s.listIdeas)
	api("GET /api/v1/ideas/{id}", s.getIdea)
	api("PUT /api/v1/ideas/{id}", s.putIdea)
	api("GET /api/v1/products/{product_id}/ideas", s.listIdeas)
	api("POST /api/v1/products/{product_id}/ideas", s.postIdea)
	api("GET /api/v1/ideas/fields/{field_name}/value/{field_value}", s.findByField(kindIdea))
	api("POST /api/v1/ideas/{idea_id}/integrations/{integration_id}/fields", s.postIntegrationFields(kindIdea))
	api("GET /api/v1/features/fields/{field_name}/value/{field_value}", s.findByField(kindFeature))
	api("GET /api/v1/me", s.getMe)
	api("GET /api/v1/products/{id}", s.getProduct)
	api("GET /api/v1/products/{product_id}/workflows", s.listWorkflows)
	api("GET /api/v1/custom_field_definitions", s.listCustomFieldDefinitions)
	api("GET /api/v1/products/{product_id}/integrations", s.listIntegrations)
	api("GET /api/v1/products/{product_id}/integrations/{integration_id}", s.getIntegration)
	api("POST /api/v1/features/{feature_id}/integrations/{integration_id}/fields", s.postIntegrationFields(kindFeature))
	// Features.
	api("GET /api/v1/features", s.listFeatures)
	api("GET /api/v1/features/{id}", s.getFeature)
	api("PUT /api/v1/features/{id}", s.putFeature)
	api("GET /api/v1/releases/{release_id}/features", s.listReleaseFeatures)
	api("POST /api/v1/releases/{release_id}/features", s.postFeature)
	// Comments.
	api("GET /api/v1/ideas/{idea_id}/comments", s.listComments("idea"))
	api("POST /api/v1/ideas/{idea_id}/comments", s.postComment("idea"))
	api("GET /api/v1/features/{feature_id}/comments", s.listComments("feature"))
	api("POST /api/v1/features/{feature_id}/comments", s.postComment("feature"))
	// People.
	api("GET /api/v1/idea_users", s.listIdeaUsers)
	api("GET /api/v1/idea_users/{id}", s.getIdeaUser)
	api("GET /api/v1/idea_portals", s.listIdeaPortals)
	api("GET /api/v1/idea_portals/{idea_portal_id}/portal_users", s.listPortalUsers)
	api("GET /api/v1/idea_portals/{idea_portal_id}/portal_users/{id}", s.getPortalUser)
	api("GET /api/v1/idea_organizations", s.listOrganizations)
	api("GET /api/v1/idea_organizations/{id}", s.getOrganization)
	// Audits.
	api("GET /api/v1/audits", s.listAudits)
	// Anything else under the API.
	api("/api/", func(w http.ResponseWriter, r *http.Request) (int, any) {
		return http.StatusNotFound, errorBody("Not found")
	})
	s.inspectRoutes(mux)
	return s.requests.Middleware(mux, func(r *http.Request) bool {
		return strings.HasPrefix(r.URL.Path, "/__sim/")
	})
}

// errorBody is the body of 401/403/404 answers ({"error": "..."}; the exact Aha! text is
// not documented, the key is the first one Aha!'s Ruby client reads).
func errorBody(msg string) map[string]any { return map[string]any{"error": msg} }

// validationBody is the body of 400/422 answers: {"errors": {"message": "..."}}.
func validationBody(msg string) map[string]any {
	return map[string]any{"errors": map[string]any{"message": msg}}
}

// wrap applies auth, the rate limit and fault injection, then runs h and writes its body.
func (s *Server) wrap(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="Aha!"`)
			s.write(w, http.StatusUnauthorized, errorBody("Authentication required. Send an API key as 'Authorization: Bearer <key>'."))
			return
		}
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.opts.APIKey)) != 1 {
			s.write(w, http.StatusForbidden, errorBody("Access denied: the API key is not valid for this account."))
			return
		}
		d := s.limiter.Allow(rateLimitKey, s.opts.Now())
		d.WriteHeaders(w)
		if !d.Allowed {
			s.write(w, http.StatusTooManyRequests, errorBody(fmt.Sprintf("Rate limit exceeded: %d requests per %s. Retry after %d seconds.", d.Limit, d.Window, d.RetryAfter)))
			return
		}
		if s.injector.Before(w, r) {
			return
		}
		status, body := h(w, r)
		if status == 0 { // the handler already dealt with the connection
			return
		}
		s.write(w, status, body)
	})
}

// write writes body as JSON, rewriting the placeholder base URL to the simulator's.
func (s *Server) write(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		simkit.WriteJSON(w, http.StatusInternalServerError, errorBody("encoding response: "+err.Error()))
		return
	}
	b = s.rebase(b)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) rebase(b []byte) []byte {
	base := s.URL()
	b = bytes.ReplaceAll(b, []byte(placeholderBase), []byte(base))
	return bytes.ReplaceAll(b, []byte("https://company.aha.io"), []byte(base))
}

// readBody decodes the request body and returns the object under key (the wrapper).
func readBody(r *http.Request, key string) (map[string]any, int, any) {
	var body map[string]any
	if err := simkit.ReadJSON(r, maxBodyBytes, &body); err != nil {
		return nil, http.StatusBadRequest, validationBody("Malformed JSON in request body: " + err.Error())
	}
	inner, ok := body[key].(map[string]any)
	if !ok {
		return nil, http.StatusBadRequest, validationBody(fmt.Sprintf("Request body must be an object wrapped in %q", key))
	}
	return inner, 0, nil
}
