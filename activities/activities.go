// Package activities holds ahacc's activities: one struct with the long-lived
// dependencies (Aha! and Centercode clients, the mapping config, the limiter),
// one method per activity, and the error taxonomy that decides what retries
// and what parks. Secrets and Centercode URLs live here, in the worker; they
// never appear in activity inputs or results.
package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/internal/people"
	"github.com/ahacc/ahacc/mapping"
)

// AhaRecord is a hydrated Aha! record as the Aha! client returns it.
type AhaRecord struct {
	ID        string
	Reference string
	URL       string
	Name      string
	JSON      []byte // the unwrapped record
}

// AhaAPI is what the activities need from the Aha! client.
type AhaAPI interface {
	GetRecord(ctx context.Context, kind, id string) (AhaRecord, error)
}

// CentercodeAPI is what the activities need from the Centercode client.
type CentercodeAPI interface {
	SubmitFeedback(ctx context.Context, sourceURL string, body []byte) (centercode.FeedbackRef, error)
	PostListener(ctx context.Context, listenerURL string, body []byte) error
	LookupByReference(ctx context.Context, lookupURL, param, ref string) ([]centercode.Feedback, error)
	GetFeedback(ctx context.Context, feedbackURL, id string) (centercode.Feedback, error)
}

// Activities holds the worker's clients and configuration. Build it once in
// the worker with New and register it with w.RegisterActivity.
type Activities struct {
	Deps
}

// Deps is everything the activities use. A nil dependency turns off what
// needs it, each saying so when called: no People, no user data; no
// AhaWriter, macros park with a config error; no Audits or Dispatcher, no
// reconcile; no Statuses, no echo guard; no Writes, every listener write
// attempt writes.
type Deps struct {
	// Configs holds the current mapping config (required); swapping it
	// reloads the mapping for the next activities (running ones keep theirs).
	Configs    *ConfigStore
	Aha        AhaAPI          // reads Aha! records
	People     people.API      // reads Aha! people, with the worker's caches
	AhaWriter  AhaWriter       // macros' writes to Aha!
	Centercode CentercodeAPI   // Centercode's source and listener endpoints
	Audits     AuditLister     // the reconcile run's audit pages
	Records    RecordLister    // the record backfill's pages
	Dispatcher AuditDispatcher // hands audits to their workflows
	Statuses   StatusExpecter  // tells FeedbackWorkflows about statuses ahacc sets
	Writes     WriteLedger     // one listener write per workflow step
	Memo       Memo            // what an idle-closed record's next run starts from
	Logger     *slog.Logger
}

// WriteLedger is a claim / confirm / release store of far-side writes by id
// (dedup.Store on Redis, under its own prefix).
type WriteLedger interface {
	Claim(ctx context.Context, source, id string) (state, owner string, err error)
	Confirm(ctx context.Context, source, id string) error
	Release(ctx context.Context, source, id, owner string) error
}

// Memo keeps small values with no expiry (dedup.Memo on Redis).
type Memo interface {
	Put(ctx context.Context, key string, value []byte) error
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Delete(ctx context.Context, key string) error
}

// ConfigStore holds the current mapping config, safe for concurrent use. It is
// a separate type because every exported method of Activities is an activity.
type ConfigStore struct {
	p atomic.Pointer[mapping.Config]
}

// NewConfigStore holds cfg.
func NewConfigStore(cfg *mapping.Config) *ConfigStore {
	s := &ConfigStore{}
	s.p.Store(cfg)
	return s
}

// Load returns the current config.
func (s *ConfigStore) Load() *mapping.Config { return s.p.Load() }

// Store replaces the current config.
func (s *ConfigStore) Store(cfg *mapping.Config) { s.p.Store(cfg) }

// New builds the activities from their dependencies.
func New(d Deps) *Activities {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Activities{Deps: d}
}

func (a *Activities) config() *mapping.Config { return a.Configs.Load() }

// retryOf is the config's retry settings, for a workflow's routes or plan.
func retryOf(cfg *mapping.Config) Retry {
	return Retry{RetryFor: cfg.Sync.RetryFor, RetryMaxInterval: cfg.Sync.RetryMaxInterval}
}

// RoutesFor tells a workflow which feedback types a record kind feeds under
// the current config (run as a local activity: cheap, no far-side call).
func (a *Activities) RoutesFor(ctx context.Context, req RoutesRequest) (Routes, error) {
	cfg := a.config()
	r := Routes{Debounce: cfg.Sync.Debounce, Retry: retryOf(cfg), ConfigHash: cfg.ShortHash(), ByContent: cfg.ContentRouted(req.Kind)}
	if a.Memo != nil {
		// Without the memo a closed record's next run could not find its
		// links: it would create again. No memo, no idle close.
		r.IdleClose = cfg.Sync.IdleClose
	}
	for _, ft := range cfg.FeedbackTypesFor(req.Kind) {
		r.FeedbackTypes = append(r.FeedbackTypes, ft.Name)
	}
	return r, nil
}

// RouteRecord names the feedback type a hydrated record goes to when the
// types its kind feeds choose by content (when:; run as a local activity).
func (a *Activities) RouteRecord(ctx context.Context, req RouteRecordRequest) (RouteChoice, error) {
	name, why, err := a.config().RouteRecord(req.Kind, req.Record)
	if err != nil {
		return RouteChoice{}, temporal.NewNonRetryableApplicationError("route the record: "+err.Error(), ErrTypeMapping, nil)
	}
	return RouteChoice{FeedbackType: name, Why: why}, nil
}

// FetchAhaRecord hydrates one Aha! record: webhooks carry only changed fields,
// so the whole record is read before mapping.
func (a *Activities) FetchAhaRecord(ctx context.Context, req FetchRequest) (Record, error) {
	rec, err := a.Aha.GetRecord(ctx, req.Kind, req.AhaID)
	if err != nil {
		c := Classify(fmt.Sprintf("fetch Aha! %s %s", req.Kind, req.AhaID), err)
		var ae *temporal.ApplicationError
		if errors.As(c, &ae) && ae.Type() == ErrTypeNotFound {
			// Gone, or never visible to this key? Aha!'s history tells.
			if deleted, herr := a.deletedInAha(ctx, req.AhaID); herr == nil && deleted {
				return Record{}, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("Aha! %s %s was deleted", req.Kind, req.AhaID), ErrTypeGone, nil)
			}
		}
		return Record{}, c
	}
	out := Record{Kind: req.Kind, AhaID: req.AhaID, Reference: rec.Reference, URL: rec.URL, Name: rec.Name, JSON: rec.JSON}
	out.LinkedFeedbackID = integrationValue(rec.JSON, a.config().Aha.IntegrationField)
	return out, nil
}

// deletedInAha reports whether Aha!'s activity history holds the deletion
// of a record (a destroy audit of its id): a 404 then means "gone", not "not
// visible to this key".
func (a *Activities) deletedInAha(ctx context.Context, id string) (bool, error) {
	if a.Audits == nil {
		return false, nil
	}
	for page := 1; page <= 10; page++ {
		audits, pag, err := a.Audits.ListAudits(ctx, aha.AuditQuery{AuditableID: id, Page: page, PerPage: 200})
		if err != nil {
			return false, err
		}
		for _, au := range audits {
			if au.AuditAction == "destroy" && au.AuditableID.String() == id {
				return true, nil
			}
		}
		if page >= pag.TotalPages || len(audits) == 0 {
			break
		}
	}
	return false, nil
}

// integrationValue reads one integration field's value from a record
// (`integration_fields: [{name, value, ...}]`); "" when absent.
func integrationValue(record []byte, name string) string {
	if name == "" {
		return ""
	}
	var r struct {
		Fields []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"integration_fields"`
		Custom []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"custom_fields"`
	}
	if json.Unmarshal(record, &r) != nil {
		return ""
	}
	text := func(v json.RawMessage) string {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		return strings.Trim(string(v), `"`)
	}
	for _, f := range r.Fields {
		if f.Name == name {
			return text(f.Value)
		}
	}
	// The macro's create body may carry the id in a custom field of the same
	// key (examples/ahacc.yaml: custom_fields.centercode_feedback_id): that
	// stamp is atomic with the create, so the creation webhook is recognised
	// even before the integration field is set.
	for _, f := range r.Custom {
		if f.Key == name {
			if s := text(f.Value); s != "" && s != "null" {
				return s
			}
		}
	}
	return ""
}

// MapRecord maps a hydrated record for one feedback type with the current
// config. A record the mapping rejects (a value outside a choice's options, a
// missing required value) fails non-retryably with the mapping's own words.
func (a *Activities) MapRecord(ctx context.Context, req MapRequest) (Mapped, error) {
	cfg := a.config()
	ft := cfg.FeedbackType(req.FeedbackType)
	if ft == nil {
		return Mapped{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("feedback type %q is not in the current config", req.FeedbackType), ErrTypeConfig, nil)
	}
	res, err := ft.Map(req.Record)
	if err != nil {
		var ve *mapping.ValidationError
		if errors.As(err, &ve) {
			return Mapped{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMapping, nil)
		}
		return Mapped{}, temporal.NewNonRetryableApplicationError("map record: "+err.Error(), ErrTypeMapping, nil)
	}
	out := Mapped{FeedbackType: ft.Name, Body: res.JSON, Hash: res.Hash, Reference: res.Reference, ConfigHash: cfg.ShortHash()}
	var rec struct {
		Status *struct {
			Name string `json:"name"`
		} `json:"workflow_status"`
	}
	if json.Unmarshal(req.Record, &rec) == nil && rec.Status != nil {
		out.CentercodeStatus, _ = cfg.StatusRules.CentercodeStatusFor(rec.Status.Name)
	}
	return out, nil
}

// SubmitFeedback creates the feedback through the type's external source, or
// updates it through the feedback listener (custom data).
//
// A create that failed ambiguously (no answer after sending, a 5xx) may have
// committed. Before creating again (attempt > 1) it looks the feedback up by
// its external reference and adopts what it finds. This relies on our
// assumption that Centercode's record lookup can find feedback by an element
// value (the simulator's AssumptionLookupByElement; config centercode.lookup).
// Without a lookup URL such a failure parks (ErrTypeAmbiguous) instead of
// risking a second feedback; a create Centercode refused (4xx) committed
// nothing (ErrTypeRejected).
func (a *Activities) SubmitFeedback(ctx context.Context, req SubmitRequest) (SubmitResult, error) {
	return a.submitFeedback(ctx, req, activity.GetInfo(ctx).Attempt > 1)
}

// submitFeedback is SubmitFeedback; retried says an earlier attempt may have
// sent the create.
func (a *Activities) submitFeedback(ctx context.Context, req SubmitRequest, retried bool) (SubmitResult, error) {
	cfg := a.config()
	ft := cfg.FeedbackType(req.FeedbackType)
	if ft == nil {
		return SubmitResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("feedback type %q is not in the current config", req.FeedbackType), ErrTypeConfig, nil)
	}
	log := a.Logger.With("feedback_type", ft.Name, "reference", req.Reference)
	if req.FeedbackID != "" {
		listener := cfg.Centercode.FeedbackListenerURL.Value()
		if listener == "" {
			return SubmitResult{FeedbackID: req.FeedbackID, Skipped: "no centercode.feedback_listener_url configured for updates"}, nil
		}
		body, err := withFeedbackID(req.Body, req.FeedbackID)
		if err != nil {
			return SubmitResult{}, temporal.NewNonRetryableApplicationError("build update body: "+err.Error(), ErrTypeMapping, nil)
		}
		if err := a.Centercode.PostListener(ctx, listener, body); err != nil {
			return SubmitResult{}, Classify(fmt.Sprintf("update %s feedback %s", ft.Name, req.FeedbackID), err)
		}
		return SubmitResult{FeedbackID: req.FeedbackID}, nil
	}

	lookup := cfg.Centercode.Lookup.URL.Value()
	if retried && req.Reference != "" && lookup != "" {
		if req.Uncertain {
			return SubmitResult{}, sharedReference(ft.Name, req.Reference, req.Reference)
		}
		found, err := a.Centercode.LookupByReference(ctx, lookup, cfg.Centercode.Lookup.Param, req.Reference)
		if err != nil {
			return SubmitResult{}, Classify(fmt.Sprintf("look up %s feedback %s before re-creating", ft.Name, req.Reference), err)
		}
		if found = except(found, req.Except); len(found) > 0 {
			log.Info("adopted feedback created by an earlier ambiguous attempt", "feedback_id", found[0].ID)
			return SubmitResult{FeedbackID: found[0].ID, Adopted: true}, nil
		}
	}
	what := fmt.Sprintf("create %s feedback for %s", ft.Name, req.Reference)
	body, sent := withSubmitter(req.Body, ft.DefaultSubmitter, false)
	ref, err := a.Centercode.SubmitFeedback(ctx, ft.SourceURL.Value(), body)
	if unknownSubmitter(err) && ft.DefaultSubmitter != "" && sent != ft.DefaultSubmitter {
		// The record's submitter is no Centercode user: on behalf of the
		// default account instead (a 400 committed nothing).
		log.Info("submitter unknown to Centercode; submitting on behalf of the default submitter", "submitter", sent)
		body, _ = withSubmitter(req.Body, ft.DefaultSubmitter, true)
		ref, err = a.Centercode.SubmitFeedback(ctx, ft.SourceURL.Value(), body)
	}
	if err != nil {
		// A refusal proves nothing committed only on the first attempt: an
		// earlier one may have, and a lookup may lag.
		return SubmitResult{}, classifyCreate(what, err, lookup != "" && req.Reference != "",
			"centercode.lookup.url (CC_LOOKUP_URL) and an external_reference", !retried)
	}
	if !ref.IDKnown {
		log.Warn("Centercode created feedback without returning its id")
	}
	return SubmitResult{FeedbackID: ref.ID, IDUnknown: !ref.IDKnown}, nil
}

// except leaves out the feedback whose ids are in ids.
func except(found []centercode.Feedback, ids []string) []centercode.Feedback {
	return slices.DeleteFunc(found, func(f centercode.Feedback) bool { return slices.Contains(ids, f.ID) })
}

// classifyCreate classifies a failed create: a refusal (4xx) of the first
// attempt is Rejected — nothing committed; a failure after sending with no way
// to look up what it did (canLookUp false; lookup names the missing setting)
// is Ambiguous and parks; the rest as Classify says.
func classifyCreate(what string, err error, canLookUp bool, lookup string, first bool) error {
	if Ambiguous(err) && !canLookUp {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: %v — it may have committed, and without %s ahacc cannot tell: parked rather than risk a second record", what, err, lookup),
			ErrTypeAmbiguous, nil)
	}
	c := Classify(what, err)
	var ae *temporal.ApplicationError
	if first && errors.As(c, &ae) && ae.NonRetryable() && (ae.Type() == ErrTypePermanent || ae.Type() == ErrTypeNotFound) {
		var details []any
		var code int
		if ae.Details(&code) == nil {
			details = []any{code}
		}
		return temporal.NewApplicationErrorWithOptions(ae.Message(), ErrTypeRejected,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: details})
	}
	return c
}

// FindFeedback looks up the feedback a record's earlier create may have made
// (it was answered without an id, or failed after sending), by the record's
// external reference, before the record is written again. Without a lookup
// (centercode.lookup.url) it fails non-retryably, so the record parks with
// what the operator can do instead of creating a second feedback.
func (a *Activities) FindFeedback(ctx context.Context, req FindFeedbackRequest) (FindFeedbackResult, error) {
	cfg := a.config()
	lookup := cfg.Centercode.Lookup.URL.Value()
	if req.Reference == "" {
		return FindFeedbackResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"Centercode may have created %s feedback already, and the record has no external reference to look it up by: set the feedback type's external_reference, then send retry",
			req.FeedbackType), ErrTypeConfig, nil)
	}
	if lookup == "" {
		return FindFeedbackResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"Centercode may have created %s feedback for %s already (an earlier create was answered without an id, or failed after it was sent), "+
				"and without centercode.lookup.url ahacc cannot find it: look in Centercode for feedback whose external reference is %s — "+
				"if there is none, send this workflow the signal retry with {\"create\": true}; if there is, set CC_LOOKUP_URL and send retry",
			req.FeedbackType, req.Reference, req.Reference), ErrTypeConfig, nil)
	}
	found, err := a.Centercode.LookupByReference(ctx, lookup, cfg.Centercode.Lookup.Param, req.Reference)
	if err != nil {
		return FindFeedbackResult{}, Classify(fmt.Sprintf("look up %s feedback %s", req.FeedbackType, req.Reference), err)
	}
	if found = except(found, req.Except); len(found) == 0 {
		return FindFeedbackResult{}, nil
	}
	if len(found) > 1 {
		a.Logger.Warn("several feedback items carry one Aha! reference; linking the first", "reference", req.Reference, "count", len(found))
	}
	return FindFeedbackResult{FeedbackID: found[0].ID}, nil
}

// NotifyDestroyed applies a feedback type's on_destroy to linked feedback.
func (a *Activities) NotifyDestroyed(ctx context.Context, req DestroyRequest) error {
	return a.notifyDestroyed(ctx, req, activity.GetInfo(ctx).Attempt > 1)
}

// notifyDestroyed is NotifyDestroyed; retried says an earlier attempt may
// have posted the comment.
func (a *Activities) notifyDestroyed(ctx context.Context, req DestroyRequest, retried bool) error {
	cfg := a.config()
	ft := cfg.FeedbackType(req.FeedbackType)
	if ft == nil || ft.OnDestroy == mapping.OnDestroyIgnore || ft.OnDestroy == "" {
		return nil
	}
	// A comment goes to the comment listener (or, without one, is stored as
	// the value "comment" by the feedback listener); a status to the listener
	// whose macro sets it.
	listener := cfg.Centercode.CommentListenerURL.Value()
	body := map[string]any{centercode.FeedbackKey: req.FeedbackID}
	switch ft.OnDestroy {
	case mapping.OnDestroyComment:
		body["comment"] = ft.DestroyComment
		if listener == "" {
			listener = cfg.Centercode.FeedbackListenerURL.Value()
		}
	case mapping.OnDestroyStatus:
		body["status"] = ft.DestroyStatus
		listener = cfg.Centercode.StatusListener(ft.DestroyStatus).Value()
	}
	if listener == "" {
		a.Logger.Warn("on_destroy not applied: no listener for it in centercode", "feedback_type", req.FeedbackType, "on_destroy", ft.OnDestroy)
		return nil
	}
	if ft.OnDestroy == mapping.OnDestroyComment && cfg.Centercode.CommentListenerURL.Value() != "" && retried {
		// A comment is not idempotent: an earlier attempt whose answer was
		// lost may have posted it. Look before posting again.
		if posted, err := a.commented(ctx, cfg, req.FeedbackID, ft.DestroyComment); err != nil {
			return Classify(fmt.Sprintf("look for the deletion comment on %s feedback %s", ft.Name, req.FeedbackID), err)
		} else if posted {
			return nil
		}
	}
	data, _ := json.Marshal(body)
	if err := a.Centercode.PostListener(ctx, listener, data); err != nil {
		return Classify(fmt.Sprintf("tell %s feedback %s that %s was deleted", ft.Name, req.FeedbackID, req.Reference), err)
	}
	return nil
}

// commented reports whether the feedback already carries a comment with this
// text, read through the record lookup (centercode.lookup.url: GET
// <lookup>/<id>). Assumed, as the simulator does: the lookup returns the
// feedback's comments as comments[].text. Without a lookup: false.
func (a *Activities) commented(ctx context.Context, cfg *mapping.Config, feedbackID, text string) (bool, error) {
	lookup := cfg.Centercode.Lookup.URL.Value()
	if lookup == "" {
		return false, nil
	}
	f, err := a.Centercode.GetFeedback(ctx, lookup, feedbackID)
	if err != nil {
		return false, err
	}
	var c struct {
		Comments []struct {
			Text string `json:"text"`
		} `json:"comments"`
	}
	_ = json.Unmarshal(f.Raw, &c)
	for _, cm := range c.Comments {
		if strings.TrimSpace(cm.Text) == strings.TrimSpace(text) {
			return true, nil
		}
	}
	return false, nil
}

// withSubmitter sets the submitter parameter to def when the body has none
// (or always, with force); it returns the body and the submitter it names.
func withSubmitter(body []byte, def string, force bool) ([]byte, string) {
	m := map[string]any{}
	if json.Unmarshal(body, &m) != nil {
		return body, ""
	}
	cur, _ := m[mapping.SubmitterParameter].(string)
	cur = strings.ToLower(strings.TrimSpace(cur))
	if def == "" || (cur != "" && !force) {
		return body, cur
	}
	m[mapping.SubmitterParameter] = def
	b, err := json.Marshal(m)
	if err != nil {
		return body, cur
	}
	return b, def
}

// unknownSubmitter reports a 400 that names the submitter parameter (the
// person is no Centercode user; AssumptionSubmitterParam).
func unknownSubmitter(err error) bool {
	var ce *centercode.Error
	return errors.As(err, &ce) && ce.Status == http.StatusBadRequest && strings.EqualFold(ce.Element, mapping.SubmitterParameter)
}

// withFeedbackID adds the listener's target (assumption 4: feedback listeners
// identify the feedback by feedbackId in the body) to a mapped body.
func withFeedbackID(body []byte, id string) ([]byte, error) {
	m := map[string]any{}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	m[centercode.FeedbackKey] = id
	return json.Marshal(m)
}
