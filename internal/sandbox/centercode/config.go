package centercode

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"text/template"
	"time"

	"github.com/ohler55/ojg/jp"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// The assumptions of docs/centercode.md ("Assumed" 1–6), as implemented here.
const (
	// Assumption 1 (centercode.md): the external source endpoint is a full URL the admin
	// pastes (it contains the key); its shape is this pattern. The bridge never builds it.
	AssumptionSourcePath = "/api/v1/projects/{projectKey}/feedback/externalSources/{sourceKey}"

	// Assumption 2 (centercode.md): success is 200 or 201 with a JSON body carrying the new
	// feedback's id. The simulator answers 201 with both "id" and "feedbackId" by default
	// (Config.SubmitResponse selects the other accepted shapes for client tests).
	AssumptionSuccessStatus = http.StatusCreated

	// Assumption 3 (centercode.md): 400 for a bad value (invalid choice, missing required
	// parameter, unknown submitter) with a JSON body naming the element and the reason;
	// 401/403 for a missing / bad or disabled key; 404 for an unknown source or listener;
	// 429/5xx transient.
	AssumptionBadValueStatus = http.StatusBadRequest

	// Assumption 4 (centercode.md): a listener is a full URL from configuration with this
	// shape; the target is identified in the body (user by "email", feedback by
	// "feedbackId"); unknown keys are stored, not rejected; an unknown user answers 404.
	AssumptionListenerPath = "/api/v1/listeners/{listenerKey}"
	// AssumptionListenerUserKey is the body key naming the target user (Assumption 4).
	AssumptionListenerUserKey = "email"
	// AssumptionListenerFeedbackKey is the body key naming the target feedback (Assumption 4).
	AssumptionListenerFeedbackKey = "feedbackId"

	// Assumption 5 (centercode.md): the admin writes each webhook macro's body template;
	// the simulator renders Macro.BodyTemplate (Go text/template over MacroData, which has
	// at least feedback id, status, title, description, submitter email and the element
	// values). DefaultMacroBodyTemplate is the body ahacc documents.
	AssumptionMacroBodyIsTemplate = true

	// Assumption 6 (centercode.md): text values are plain text or simple HTML (stored as
	// sent); attachments are sent as http(s) URLs that Centercode fetches (the simulator
	// validates the URL but does not fetch it).
	AssumptionAttachmentsAreURLs = true
)

// ahacc's own assumptions beyond centercode.md, each configurable.
const (
	// AssumptionLookupByElement (ahacc's assumption, not in centercode.md): the Record
	// Lookup API can find feedback by an element value:
	// GET /api/v1/projects/{projectKey}/feedback?element=NAME&value=V&apiKey=KEY answers
	// {"data": [feedback, ...]}; the same path with ?<LookupReferenceParam>=V (default
	// "externalReference", the form ahacc's config `centercode.lookup.param` uses) finds
	// feedback by its external reference. ahacc uses it to avoid a second create after an
	// ambiguous failure. Config.DisableLookupByElement turns both off (404).
	AssumptionLookupByElement = "/api/v1/projects/{projectKey}/feedback"

	// DefaultLookupReferenceParam is the default query parameter of the lookup by
	// external reference (AssumptionLookupByElement).
	DefaultLookupReferenceParam = "externalReference"

	// AssumptionNoMacroRetry (centercode.md "Known": whether Centercode retries a failed
	// webhook call is unknown — assume not): each macro call is delivered once (twice with
	// duplicate delivery on), never retried.
	AssumptionNoMacroRetry = true
)

// Known (centercode.md): the parameter names that become required when the source has no
// starting status / no default submitter.
const (
	ParamStatus    = "Status"
	ParamSubmitter = "Submitter"
	// AssumptionSubmitterParam (ahacc's assumption): the Submitter parameter
	// names the submitter by email whether or not the source has a Default
	// Submitter; one naming no user is a 400 naming Submitter (ahacc then
	// sends the feedback type's default_submitter), and without it the
	// source's Default Submitter is used.
	AssumptionSubmitterParam = ParamSubmitter
)

// ElementKind is the kind of a feedback form element.
type ElementKind string

// Element kinds (centercode.md "Known": Text Entry, Choices, Multiple Choice, Rating Scale,
// File Attachment; email, number and date are text entries with a format the bridge maps).
const (
	KindText        ElementKind = "text"
	KindChoice      ElementKind = "choice"
	KindMultiChoice ElementKind = "multi_choice"
	KindAttachment  ElementKind = "attachment"
	KindEmail       ElementKind = "email"
	KindNumber      ElementKind = "number"
	KindDate        ElementKind = "date"
	KindRating      ElementKind = "rating"
)

// Element is one element parameter of an external source.
type Element struct {
	// Name is the element's (and by default the JSON parameter's) name, e.g. "Severity".
	Name string `json:"name" yaml:"name"`
	// Kind is one of the Kind* constants; default text.
	Kind ElementKind `json:"kind" yaml:"kind"`
	// Options are the allowed values of choice and multi_choice elements (required for them).
	Options []string `json:"options,omitempty" yaml:"options"`
	// Required makes a missing or empty value a 400.
	Required bool `json:"required,omitempty" yaml:"required"`
	// Path is the JSONPath into the request body (centercode.md "Known": element
	// parameters use JSONPath, one value per parameter). Default $['<Name>'].
	Path string `json:"path,omitempty" yaml:"path"`
	// RatingMax is the top of a rating element's scale (1..RatingMax); default 5.
	RatingMax int `json:"rating_max,omitempty" yaml:"rating_max"`
}

// Source is one external source: it creates feedback of one feedback type in one project.
type Source struct {
	ProjectKey   string    `json:"project_key" yaml:"project_key"`
	Key          string    `json:"key" yaml:"key"`
	FeedbackType string    `json:"feedback_type" yaml:"feedback_type"` // e.g. "Issues"
	Elements     []Element `json:"elements" yaml:"elements"`
	// DefaultSubmitter is the email of the default submitter. Empty: the Submitter
	// parameter is required and must match a known user by email.
	DefaultSubmitter string `json:"default_submitter,omitempty" yaml:"default_submitter"`
	// StartingStatus (usually "New"). Empty: the Status parameter is required.
	StartingStatus string `json:"starting_status,omitempty" yaml:"starting_status"`
	// Statuses, when set, are the workflow's statuses; a Status parameter (and a status
	// change) must be one of them.
	Statuses []string `json:"statuses,omitempty" yaml:"statuses"`
	// ExternalReferenceElement names the element that carries the sender's external
	// reference (e.g. the Aha! reference), stored on the feedback and used by lookups.
	ExternalReferenceElement string `json:"external_reference_element,omitempty" yaml:"external_reference_element"`
	// TitleElement and DescriptionElement feed MacroData.Title/Description;
	// defaults "Title" and "Description".
	TitleElement       string `json:"title_element,omitempty" yaml:"title_element"`
	DescriptionElement string `json:"description_element,omitempty" yaml:"description_element"`
}

// ListenerTarget is what a listener writes to.
type ListenerTarget string

// Listener targets (centercode.md "Known": User Automation / Feedback Automation).
const (
	TargetUser     ListenerTarget = "user"
	TargetFeedback ListenerTarget = "feedback"
)

// ListenerAction is what a listener does.
type ListenerAction string

// Listener actions (centercode.md "Known": store custom data, add a comment, run a macro).
const (
	ActionStoreData ListenerAction = "store_data"
	ActionComment   ListenerAction = "comment"
	ActionRunMacro  ListenerAction = "run_macro"
)

// Listener is one external listener.
type Listener struct {
	Key    string         `json:"key" yaml:"key"`
	Target ListenerTarget `json:"target" yaml:"target"`
	Action ListenerAction `json:"action" yaml:"action"`
	// DataGroup (store_data) is the group the pairs are shown under; default "External Data".
	DataGroup string `json:"data_group,omitempty" yaml:"data_group"`
	// Labels (store_data) maps a key to the label shown on the summary page. Keys without
	// a label are stored too (Assumption 4), labelled with the key itself.
	Labels map[string]string `json:"labels,omitempty" yaml:"labels"`
	// SetStatus (run_macro, feedback target) is the status the macro sets; a change fires
	// automatic macros whose filter names it.
	SetStatus string `json:"set_status,omitempty" yaml:"set_status"`
	// Macro (run_macro, feedback target) is a webhook macro to run as well, if any.
	Macro string `json:"macro,omitempty" yaml:"macro"`
}

// MacroTrigger says when a webhook macro runs.
type MacroTrigger string

// Macro triggers (centercode.md "Known": manual, scheduled, or automatic on modification
// restricted by a filter such as Status = Will Fix; schedules are not simulated).
const (
	TriggerManual       MacroTrigger = "manual"
	TriggerStatusChange MacroTrigger = "status_change"
)

// StatusAny in a macro's StatusFilter matches every status change.
const StatusAny = "*"

// Macro is a feedback macro with a webhook action that calls out (to ahacc).
type Macro struct {
	Name    string            `json:"name" yaml:"name"`
	Method  string            `json:"method,omitempty" yaml:"method"` // GET, POST (default) or PUT
	URL     string            `json:"url" yaml:"url"`
	Headers map[string]string `json:"headers,omitempty" yaml:"headers"` // e.g. Authorization: Bearer ...
	// BodyTemplate is a Go text/template over MacroData; default DefaultMacroBodyTemplate.
	// Function "json" JSON-encodes a value (use it for strings: {{json .Title}}).
	BodyTemplate string `json:"body_template,omitempty" yaml:"body_template"`
	// Trigger: manual (default) or status_change.
	Trigger MacroTrigger `json:"trigger,omitempty" yaml:"trigger"`
	// StatusFilter (status_change): the macro fires when a feedback's status changes to one
	// of these (case-insensitive); StatusAny ("*") fires on every status change, which is
	// how a "status changed" webhook to ahacc is set up.
	StatusFilter []string `json:"status_filter,omitempty" yaml:"status_filter"`
	// FeedbackTypes, when set, restricts automatic runs to these feedback types.
	FeedbackTypes []string `json:"feedback_types,omitempty" yaml:"feedback_types"`
}

// User is a community member (tester).
type User struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// SubmitResponse selects the success body of an external source (all accepted by
// Assumption 2); for client tests.
type SubmitResponse string

// Success body shapes.
const (
	SubmitIDAndFeedbackID SubmitResponse = ""            // 201 {"id": N, "feedbackId": N, "status": S} (default)
	SubmitID              SubmitResponse = "id"          // 201 {"id": N, "status": S}
	SubmitFeedbackID      SubmitResponse = "feedbackId"  // 201 {"feedbackId": N}
	SubmitNested          SubmitResponse = "feedback.id" // 200 {"feedback": {"id": N, "status": S}}
	SubmitNoID            SubmitResponse = "none"        // 202 {"result": "queued"} — created, id unknown
)

// RateLimit configures the simulated rate limit per API key (0 disables a window).
type RateLimit struct {
	PerSecond int `json:"per_second" yaml:"per_second"`
	PerMinute int `json:"per_minute" yaml:"per_minute"`
}

// Config is everything the simulator is built from. The zero value of every field is
// usable; DefaultConfig returns a demo community.
type Config struct {
	// Addr is the listen address of Start; default 127.0.0.1:0.
	Addr string
	// APIKeys are the valid community API keys (query parameter apiKey). At least one.
	APIKeys []string
	// DisabledAPIKeys are keys that exist but are disabled (403).
	DisabledAPIKeys []string
	Sources         []Source
	Listeners       []Listener
	Macros          []Macro
	// Users are the seeded testers; more can be added with AddUsers / POST /__sim/users.
	Users []User
	// DisableLookupByElement turns off AssumptionLookupByElement (404).
	DisableLookupByElement bool
	// LookupReferenceParam names the lookup-by-reference query parameter; default
	// DefaultLookupReferenceParam.
	LookupReferenceParam string
	// SubmitResponse selects the success body shape (default id + feedbackId, 201).
	SubmitResponse SubmitResponse
	// RateLimit is off by default.
	RateLimit RateLimit
	// Faults are injected into /api/ requests (never into /__sim/).
	Faults simkit.Faults
	// DuplicateMacroDelivery delivers every macro call twice (for dedup tests).
	DuplicateMacroDelivery bool
	// MacroClient sends macro calls; default a client with a 10 s timeout.
	MacroClient *http.Client
	// FirstFeedbackID is the id of the first feedback created; default 1001.
	FirstFeedbackID int64
	// RecorderSize is how many requests inspection keeps in full (counts are unbounded).
	RecorderSize int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultMacroBodyTemplate renders the JSON ahacc documents for macro webhooks
// (Assumption 5).
const DefaultMacroBodyTemplate = `{"macro": {{json .Macro}}, "feedbackId": {{.FeedbackID}}, "projectKey": {{json .ProjectKey}}, ` +
	`"feedbackType": {{json .FeedbackType}}, "status": {{json .Status}}, "oldStatus": {{json .OldStatus}}, ` +
	`"title": {{json .Title}}, "description": {{json .Description}}, "submitterEmail": {{json .SubmitterEmail}}, ` +
	`"elements": {{json .Elements}}, "customData": {{json .CustomData}}, "runKey": {{json .RunKey}}, "time": {{json .Time}}}`

// DefaultAPIKey is the API key of DefaultConfig.
const DefaultAPIKey = "sim-cc-key-0123456789abcdef"

// DefaultConfig returns a demo community: project "beta" with an Issues source ("bugs")
// and an Ideas source ("ideas"), user-data, feedback-data, comment and will-fix
// listeners, a "push-to-aha" macro fired on "Will Fix" (its URL is empty until set),
// and five testers.
func DefaultConfig() Config {
	statuses := []string{"New", "In Review", "Will Fix", "Fixed", "Closed", "Won't Fix"}
	return Config{
		APIKeys: []string{DefaultAPIKey},
		Sources: []Source{
			{
				ProjectKey: "beta", Key: "bugs", FeedbackType: "Issues",
				DefaultSubmitter: "pm@example.com", StartingStatus: "New", Statuses: statuses,
				ExternalReferenceElement: "Aha Reference",
				Elements: []Element{
					{Name: "Title", Kind: KindText, Required: true},
					{Name: "Description", Kind: KindText},
					{Name: "Severity", Kind: KindChoice, Options: []string{"Critical", "Major", "Minor", "Trivial"}},
					{Name: "Platforms", Kind: KindMultiChoice, Options: []string{"Windows", "macOS", "Linux", "iOS", "Android"}},
					{Name: "Attachment 1", Kind: KindAttachment},
					{Name: "Attachment 2", Kind: KindAttachment},
					{Name: "Attachment 3", Kind: KindAttachment},
					{Name: "Reporter Email", Kind: KindEmail},
					{Name: "Aha Reference", Kind: KindText},
				},
			},
			{
				ProjectKey: "beta", Key: "ideas", FeedbackType: "Ideas",
				StartingStatus: "New", Statuses: statuses,
				ExternalReferenceElement: "Aha Reference",
				Elements: []Element{
					{Name: "Title", Kind: KindText, Required: true},
					{Name: "Description", Kind: KindText},
					{Name: "Category", Kind: KindMultiChoice, Options: []string{"Usability", "Performance", "Integrations", "Reporting", "Other"}},
					{Name: "Votes", Kind: KindNumber},
					{Name: "Created", Kind: KindDate},
					{Name: "Aha Reference", Kind: KindText},
				},
			},
		},
		Listeners: []Listener{
			{Key: "user-data", Target: TargetUser, Action: ActionStoreData, DataGroup: "Aha!",
				Labels: map[string]string{"company": "Company", "revenue": "Annual Revenue", "name": "Name", "title": "Job Title"}},
			{Key: "feedback-data", Target: TargetFeedback, Action: ActionStoreData, DataGroup: "Aha!",
				Labels: map[string]string{"aha_reference": "Aha! Reference", "aha_url": "Aha! URL", "aha_status": "Aha! Status"}},
			{Key: "feedback-comment", Target: TargetFeedback, Action: ActionComment},
			{Key: "will-fix", Target: TargetFeedback, Action: ActionRunMacro, SetStatus: "Will Fix"},
		},
		Macros: []Macro{
			{Name: "push-to-aha", Trigger: TriggerStatusChange, StatusFilter: []string{"Will Fix"}},
		},
		Users: []User{
			{FirstName: "Product", LastName: "Manager", Email: "pm@example.com"},
			{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"},
			{FirstName: "Grace", LastName: "Hopper", Email: "grace@example.com"},
			{FirstName: "Alan", LastName: "Turing", Email: "alan@example.com"},
			{FirstName: "Katherine", LastName: "Johnson", Email: "katherine@example.com"},
		},
	}
}

// compiled forms of the configuration.
type compiledSource struct {
	Source
	paths    []jp.Expr
	statuses map[string]bool
}

type compiledMacro struct {
	Macro
	tmpl *template.Template
}

var templateFuncs = template.FuncMap{"json": jsonString}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validKind(k ElementKind) bool {
	switch k {
	case KindText, KindChoice, KindMultiChoice, KindAttachment, KindEmail, KindNumber, KindDate, KindRating:
		return true
	}
	return false
}

// compile validates cfg and builds lookups; errors name the offending item.
func compile(cfg *Config) (map[string]*compiledSource, map[string]Listener, map[string]*compiledMacro, error) {
	var errs []error
	if len(cfg.APIKeys) == 0 {
		errs = append(errs, errors.New("at least one API key is required"))
	}
	sources := map[string]*compiledSource{}
	for i, s := range cfg.Sources {
		where := fmt.Sprintf("sources[%d] (%s/%s)", i, s.ProjectKey, s.Key)
		if s.ProjectKey == "" || s.Key == "" {
			errs = append(errs, fmt.Errorf("%s: project_key and key are required", where))
			continue
		}
		id := s.ProjectKey + "/" + s.Key
		if _, dup := sources[id]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate source", where))
			continue
		}
		if s.TitleElement == "" {
			s.TitleElement = "Title"
		}
		if s.DescriptionElement == "" {
			s.DescriptionElement = "Description"
		}
		cs := &compiledSource{Source: s, statuses: map[string]bool{}}
		for _, st := range s.Statuses {
			cs.statuses[st] = true
		}
		if s.StartingStatus != "" && len(cs.statuses) > 0 && !cs.statuses[s.StartingStatus] {
			errs = append(errs, fmt.Errorf("%s: starting status %q is not among statuses", where, s.StartingStatus))
		}
		cs.Elements = append([]Element(nil), s.Elements...)
		seen := map[string]bool{}
		for j := range cs.Elements {
			e := &cs.Elements[j]
			if e.Kind == "" {
				e.Kind = KindText
			}
			if e.Name == "" {
				errs = append(errs, fmt.Errorf("%s: elements[%d]: name is required", where, j))
				continue
			}
			if seen[e.Name] {
				errs = append(errs, fmt.Errorf("%s: element %q defined twice", where, e.Name))
			}
			seen[e.Name] = true
			if !validKind(e.Kind) {
				errs = append(errs, fmt.Errorf("%s: element %q: unknown kind %q", where, e.Name, e.Kind))
			}
			if (e.Kind == KindChoice || e.Kind == KindMultiChoice) && len(e.Options) == 0 {
				errs = append(errs, fmt.Errorf("%s: element %q: a %s element needs options", where, e.Name, e.Kind))
			}
			if e.Kind == KindRating && e.RatingMax <= 0 {
				e.RatingMax = 5
			}
			path := e.Path
			if path == "" {
				path = "$['" + strings.ReplaceAll(e.Name, "'", `\'`) + "']"
			}
			x, err := jp.ParseString(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: element %q: path %q: %v", where, e.Name, path, err))
			}
			cs.paths = append(cs.paths, x)
		}
		if s.ExternalReferenceElement != "" && !seen[s.ExternalReferenceElement] {
			errs = append(errs, fmt.Errorf("%s: external_reference_element %q is not an element", where, s.ExternalReferenceElement))
		}
		sources[id] = cs
	}

	macros := map[string]*compiledMacro{}
	for i, m := range cfg.Macros {
		where := fmt.Sprintf("macros[%d] (%s)", i, m.Name)
		if m.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
			continue
		}
		if _, dup := macros[m.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate macro", where))
			continue
		}
		m.Method = strings.ToUpper(m.Method)
		switch m.Method {
		case "":
			m.Method = http.MethodPost
		case http.MethodGet, http.MethodPost, http.MethodPut:
		default:
			errs = append(errs, fmt.Errorf("%s: method %q (want GET, POST or PUT)", where, m.Method))
		}
		switch m.Trigger {
		case "":
			m.Trigger = TriggerManual
		case TriggerManual:
		case TriggerStatusChange:
			if len(m.StatusFilter) == 0 {
				errs = append(errs, fmt.Errorf("%s: a status_change macro needs a status_filter", where))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: unknown trigger %q", where, m.Trigger))
		}
		body := m.BodyTemplate
		if body == "" {
			body = DefaultMacroBodyTemplate
		}
		t, err := template.New(m.Name).Funcs(templateFuncs).Option("missingkey=zero").Parse(body)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: body template: %v", where, err))
		}
		macros[m.Name] = &compiledMacro{Macro: m, tmpl: t}
	}

	listeners := map[string]Listener{}
	for i, l := range cfg.Listeners {
		where := fmt.Sprintf("listeners[%d] (%s)", i, l.Key)
		if l.Key == "" {
			errs = append(errs, fmt.Errorf("%s: key is required", where))
			continue
		}
		if _, dup := listeners[l.Key]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate listener", where))
			continue
		}
		switch l.Target {
		case TargetUser:
			if l.Action != ActionStoreData {
				errs = append(errs, fmt.Errorf("%s: a user listener supports only store_data", where))
			}
		case TargetFeedback:
		default:
			errs = append(errs, fmt.Errorf("%s: unknown target %q (want user or feedback)", where, l.Target))
		}
		switch l.Action {
		case ActionStoreData:
			if l.DataGroup == "" {
				l.DataGroup = "External Data"
			}
		case ActionComment:
		case ActionRunMacro:
			if l.SetStatus == "" && l.Macro == "" {
				errs = append(errs, fmt.Errorf("%s: run_macro needs set_status or macro", where))
			}
			if l.Macro != "" && macros[l.Macro] == nil {
				errs = append(errs, fmt.Errorf("%s: unknown macro %q", where, l.Macro))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: unknown action %q", where, l.Action))
		}
		listeners[l.Key] = l
	}
	if len(errs) > 0 {
		return nil, nil, nil, fmt.Errorf("centercode simulator config: %w", errors.Join(errs...))
	}
	return sources, listeners, macros, nil
}
