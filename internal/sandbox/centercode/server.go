package centercode

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// maxBody is the largest request body the simulator reads.
const maxBody = 4 << 20

// Server is the Centercode simulator. It is an http.Handler; Start serves it on a
// loopback port. All methods are safe for concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	sources   map[string]*compiledSource // "project/source"
	listeners map[string]Listener
	macros    map[string]*compiledMacro
	faults    *simkit.Injector
	limiter   *simkit.RateLimiter
	recorder  *simkit.Recorder
	client    *http.Client
	handler   http.Handler

	mu          sync.Mutex
	keys        map[string]bool // api key → enabled
	users       map[string]*userState
	userOrder   []string
	nextUserID  int64
	feedback    map[int64]*feedbackState
	nextID      int64
	writes      listenerWrites
	deliveries  []Delivery
	dupDelivery bool
	lookupOff   bool
	refParam    string
	submitShape SubmitResponse
	noIDRate    float64    // share of creates answered without an id (assumption 2)
	noIDRng     *rand.Rand // seeded by SetNoIDRate
	runSeq      int64
	inflight    tracker

	srvMu    sync.Mutex
	srv      *http.Server
	ln       net.Listener
	url      string
	closed   bool
	closeCtx context.Context
	cancel   context.CancelFunc
}

// New builds a simulator from cfg; it validates the whole configuration and returns
// every problem at once.
func New(cfg Config) (*Server, error) {
	sources, listeners, macros, err := compile(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, now: cfg.Now,
		sources: sources, listeners: listeners, macros: macros,
		faults:      simkit.NewInjector(cfg.Faults),
		limiter:     simkit.NewRateLimiter(cfg.RateLimit.PerSecond, cfg.RateLimit.PerMinute),
		recorder:    simkit.NewRecorder(cfg.RecorderSize),
		client:      cfg.MacroClient,
		keys:        map[string]bool{},
		users:       map[string]*userState{},
		feedback:    map[int64]*feedbackState{},
		nextID:      cfg.FirstFeedbackID,
		nextUserID:  1,
		dupDelivery: cfg.DuplicateMacroDelivery,
		lookupOff:   cfg.DisableLookupByElement,
		refParam:    cfg.LookupReferenceParam,
		submitShape: cfg.SubmitResponse,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "centercode_sim")
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.refParam == "" {
		s.refParam = DefaultLookupReferenceParam
	}
	if s.nextID <= 0 {
		s.nextID = 1001
	}
	s.closeCtx, s.cancel = context.WithCancel(context.Background())
	for _, k := range cfg.APIKeys {
		s.keys[k] = true
	}
	for _, k := range cfg.DisabledAPIKeys {
		s.keys[k] = false
	}
	if err := s.AddUsers(cfg.Users...); err != nil {
		return nil, err
	}
	s.writes.init()
	s.handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("POST "+AssumptionSourcePath, s.guard(s.handleSubmit))
	api.HandleFunc("GET /api/v1/projects/{projectKey}/feedback/{id}", s.guard(s.handleGetFeedback))
	api.HandleFunc("GET "+AssumptionLookupByElement, s.guard(s.handleLookup))
	api.HandleFunc("POST "+AssumptionListenerPath, s.guard(s.handleListener))
	api.HandleFunc("/api/", s.guard(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint", "")
	}))
	simMux := http.NewServeMux()
	simMux.HandleFunc("GET /__sim/inspect", s.handleInspect)
	simMux.HandleFunc("GET /__sim/feedback/{id}", s.handleSimFeedback)
	simMux.HandleFunc("POST /__sim/feedback/{id}/status", s.handleSimStatus)
	simMux.HandleFunc("POST /__sim/macros/{name}/run", s.handleSimRunMacro)
	simMux.HandleFunc("PUT /__sim/macros/duplicate", s.handleSimDuplicate)
	simMux.HandleFunc("GET /__sim/users/{email}", s.handleSimUser)
	simMux.HandleFunc("POST /__sim/users", s.handleSimAddUsers)
	simMux.HandleFunc("GET /__sim/faults", s.handleSimFaults)
	simMux.HandleFunc("PUT /__sim/faults", s.handleSimFaults)
	simMux.HandleFunc("GET /__sim/ratelimit", s.handleSimRateLimit)
	simMux.HandleFunc("PUT /__sim/ratelimit", s.handleSimRateLimit)
	simMux.HandleFunc("PUT /__sim/apikeys/{key}", s.handleSimAPIKey)
	simMux.HandleFunc("POST /__sim/reset", s.handleSimReset)

	recorded := s.recorder.Middleware(api, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/__sim/") {
			simMux.ServeHTTP(w, r)
			return
		}
		recorded.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// guard wraps an /api/ handler: API key (401 missing, 403 wrong or disabled), rate limit
// (429 with X-Ratelimit-* and Retry-After), then fault injection.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("apiKey")
		if key == "" {
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing apiKey query parameter", "")
			return
		}
		if !s.keyEnabled(key) {
			writeError(w, http.StatusForbidden, "forbidden", "API key is invalid or disabled", "")
			return
		}
		d := s.limiter.Allow(key, s.now())
		d.WriteHeaders(w)
		if !d.Allowed {
			writeError(w, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("rate limit of %d per %s exceeded", d.Limit, d.Window), "")
			return
		}
		if s.faults.Before(w, r) {
			return
		}
		h(w, r)
	}
}

func (s *Server) keyEnabled(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, enabled := range s.keys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			return enabled
		}
	}
	return false
}

// SetAPIKeyEnabled enables or disables an API key (a disabled key answers 403,
// centercode.md "Known"). Setting an unknown key adds it.
func (s *Server) SetAPIKeyEnabled(key string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = enabled
}

// SetNoIDRate makes a share (0..1) of external-source creates answer 2xx
// without the new feedback's id, as assumption 2 allows ("created, id
// unknown"), drawn from seed.
func (s *Server) SetNoIDRate(rate float64, seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noIDRate, s.noIDRng = rate, rand.New(rand.NewSource(seed))
}

// SetFaults replaces the fault injection settings.
func (s *Server) SetFaults(f simkit.Faults) { s.faults.Set(f) }

// Faults returns the fault injection settings.
func (s *Server) Faults() simkit.Faults { return s.faults.Get() }

// SetRateLimit changes the rate limit (0 disables a window).
func (s *Server) SetRateLimit(perSecond, perMinute int) { s.limiter.SetLimits(perSecond, perMinute) }

// SetDuplicateMacroDelivery turns duplicate macro delivery on or off.
func (s *Server) SetDuplicateMacroDelivery(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dupDelivery = on
}

// SetMacroURL points a macro at url (the dev stack learns ahacc's address after New).
func (s *Server) SetMacroURL(name, url string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.macros[name]
	if m == nil {
		return fmt.Errorf("unknown macro %q", name)
	}
	m.URL = url
	return nil
}

// SetMacroHeader sets one header of a macro's webhook call (e.g. Authorization).
func (s *Server) SetMacroHeader(name, header, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.macros[name]
	if m == nil {
		return fmt.Errorf("unknown macro %q", name)
	}
	h := make(map[string]string, len(m.Headers)+1)
	for k, v := range m.Headers {
		h[k] = v
	}
	h[header] = value
	m.Headers = h
	return nil
}

// Start listens on Config.Addr (default 127.0.0.1:0) and serves in the background.
func (s *Server) Start() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return errors.New("centercode simulator already started")
	}
	addr := s.cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("centercode simulator: listen %s: %w", addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve failed", "error", err)
		}
	}()
	s.log.Info("centercode simulator listening", "url", s.url)
	return nil
}

// URL is the base URL after Start, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// Close stops the server, cancels in-flight macro deliveries and waits for them.
func (s *Server) Close() error {
	s.srvMu.Lock()
	srv := s.srv
	already := s.closed
	s.closed = true
	s.srvMu.Unlock()
	if already {
		return nil
	}
	s.cancel()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err = srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}
	_ = s.inflight.wait(context.Background())
	return err
}

// SourceURL is the full external source URL (with the first API key) for a source,
// as an admin would copy it (Assumption 1).
func (s *Server) SourceURL(projectKey, sourceKey string) string {
	return s.URL() + "/api/v1/projects/" + url.PathEscape(projectKey) + "/feedback/externalSources/" +
		url.PathEscape(sourceKey) + "?apiKey=" + url.QueryEscape(s.firstKey())
}

// ListenerURL is the full listener URL (with the first API key) (Assumption 4).
func (s *Server) ListenerURL(listenerKey string) string {
	return s.URL() + "/api/v1/listeners/" + url.PathEscape(listenerKey) + "?apiKey=" + url.QueryEscape(s.firstKey())
}

// FeedbackURL is the project's feedback collection URL (with the first API key): the
// record lookup appends /{id}, the lookup by element adds element= and value=.
func (s *Server) FeedbackURL(projectKey string) string {
	return s.URL() + "/api/v1/projects/" + url.PathEscape(projectKey) + "/feedback?apiKey=" + url.QueryEscape(s.firstKey())
}

func (s *Server) firstKey() string {
	if len(s.cfg.APIKeys) == 0 {
		return ""
	}
	return s.cfg.APIKeys[0]
}

// apiError is the body of every /api/ error (Assumption 3: names the element and reason).
type apiError struct {
	Error   string   `json:"error"`
	Message string   `json:"message"`
	Element string   `json:"element,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Options []string `json:"options,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg, element string) {
	simkit.WriteJSON(w, status, apiError{Error: code, Message: msg, Element: element})
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
