package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/mapping"
)

// PlanMacro turns a Centercode macro body into the Aha! request of the
// macro's action under the current config (run as a local activity: no
// far-side call). A body the mapping rejects fails non-retryably with the
// mapping's own words, and the run parks.
func (a *Activities) PlanMacro(ctx context.Context, req PlanMacroRequest) (MacroPlan, error) {
	cfg := a.config()
	m := cfg.Macro(req.Macro)
	if m == nil {
		return MacroPlan{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("macro %q is not in the current config", req.Macro), ErrTypeConfig, nil)
	}
	res, err := m.Map(req.Payload)
	if err != nil {
		var ve *mapping.ValidationError
		if errors.As(err, &ve) {
			return MacroPlan{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMapping, nil)
		}
		return MacroPlan{}, temporal.NewNonRetryableApplicationError("map macro body: "+err.Error(), ErrTypeMapping, nil)
	}
	if res.Reference == "" {
		return MacroPlan{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("macro %q: the body has no Centercode feedback id", req.Macro), ErrTypeMapping, nil)
	}
	return MacroPlan{
		Macro: m.Name, Action: m.Action, Product: m.Product, Release: m.Release,
		FeedbackID: res.Reference, Body: res.JSON, Target: payloadTarget(req.Payload), ConfigHash: cfg.ShortHash(),
		Retry: retryOf(cfg), OnLinked: m.OnLinked,
	}, nil
}

// payloadTarget reads the Aha! record a macro body names: a top-level
// "ahaReference", else the aha_reference the write-back stored in any custom
// data group (Centercode's body template can include customData).
func payloadTarget(payload []byte) string {
	var p struct {
		AhaReference any                          `json:"ahaReference"`
		CustomData   map[string]map[string]string `json:"customData"`
	}
	if json.Unmarshal(payload, &p) != nil {
		// customData of another shape: read the reference alone.
		var q struct {
			AhaReference any `json:"ahaReference"`
		}
		_ = json.Unmarshal(payload, &q)
		p.AhaReference = q.AhaReference
	}
	if s := scalarText(p.AhaReference); s != "" {
		return s
	}
	groups := make([]string, 0, len(p.CustomData))
	for g := range p.CustomData {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		if s := strings.TrimSpace(p.CustomData[g][WriteBackKeyReference]); s != "" {
			return s
		}
	}
	return ""
}

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64:
		return fmt.Sprintf("%.0f", x)
	case json.Number:
		return x.String()
	}
	return ""
}

// PushToAha performs a macro's action in Aha!: create an idea or a feature,
// comment, set an idea's status or set integration fields.
//
// A create that failed ambiguously (timeout after sending, 5xx) may have
// committed. Before creating an idea again (attempt > 1, or LookupFirst after
// an operator's retry) it looks the idea up by the integration field ahacc
// stamps on every idea it creates, and adopts what it finds.
func (a *Activities) PushToAha(ctx context.Context, req PushRequest) (PushResult, error) {
	p := req.Plan
	if a.AhaWriter == nil {
		return PushResult{}, temporal.NewNonRetryableApplicationError("this worker has no Aha! client for macros", ErrTypeConfig, nil)
	}
	cfg := a.config()
	body := map[string]any{}
	if len(p.Body) > 0 {
		if err := json.Unmarshal(p.Body, &body); err != nil {
			return PushResult{}, temporal.NewNonRetryableApplicationError("decode planned body: "+err.Error(), ErrTypeMapping, nil)
		}
	}
	switch p.Action {
	case mapping.ActionCreateIdea, mapping.ActionCreateFeature:
		return a.pushCreate(ctx, cfg, req, body)
	case mapping.ActionComment:
		return a.onTarget(ctx, cfg, p, func(target string, out *PushResult) error { return a.pushComment(ctx, req, target, body, out) })
	case mapping.ActionSetStatus:
		return a.onTarget(ctx, cfg, p, func(target string, out *PushResult) error { return a.pushStatus(ctx, p, target, body, out) })
	case mapping.ActionSetIntegrationField:
		return a.onTarget(ctx, cfg, p, func(target string, _ *PushResult) error { return a.pushIntegrationFields(ctx, cfg, target, body) })
	}
	return PushResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("macro %q: unknown action %q", p.Macro, p.Action), ErrTypeConfig, nil)
}

// onTarget finds the idea an action on an existing record applies to and runs it.
func (a *Activities) onTarget(ctx context.Context, cfg *mapping.Config, p MacroPlan, act func(target string, out *PushResult) error) (PushResult, error) {
	target, err := a.target(ctx, cfg, p)
	if err != nil {
		return PushResult{}, err
	}
	out := PushResult{Kind: aha.KindIdea, ID: target, Reference: target}
	if err := act(target, &out); err != nil {
		return PushResult{}, err
	}
	return out, nil
}

// pushComment posts the comment once: a retried attempt (or a run told to
// look first) looks for the comment an earlier attempt may have posted.
func (a *Activities) pushComment(ctx context.Context, req PushRequest, target string, body map[string]any, out *PushResult) error {
	p := req.Plan
	text, _ := body["body"].(string)
	if activity.GetInfo(ctx).Attempt > 1 || req.LookupFirst {
		posted, err := a.postedComment(ctx, target, text, req.Since)
		if err != nil {
			return Classify(fmt.Sprintf("look for the comment on idea %s before posting again", target), err)
		}
		if posted {
			a.Logger.Info("the comment an earlier attempt posted is there; not posting again",
				"macro", p.Macro, "action", p.Action, "feedback_id", p.FeedbackID, "aha_reference", target)
			out.Adopted = true
			return nil
		}
	}
	if _, err := a.AhaWriter.AddComment(ctx, aha.KindIdea, target, text); err != nil {
		return Classify(fmt.Sprintf("comment on idea %s for Centercode feedback %s", target, p.FeedbackID), err)
	}
	return nil
}

// pushStatus sets the idea's workflow status (the body holds workflow_status).
func (a *Activities) pushStatus(ctx context.Context, p MacroPlan, target string, body map[string]any, out *PushResult) error {
	rec, err := a.AhaWriter.UpdateIdea(ctx, target, body)
	if err != nil {
		return Classify(fmt.Sprintf("set the status of idea %s for Centercode feedback %s", target, p.FeedbackID), err)
	}
	out.ID, out.Reference, out.URL = rec.ID.String(), rec.ReferenceNum, rec.URL
	return nil
}

// pushIntegrationFields sets each mapped integration field, in name order.
func (a *Activities) pushIntegrationFields(ctx context.Context, cfg *mapping.Config, target string, body map[string]any) error {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fmt.Sprint(body[k])
		if s, ok := body[k].(string); ok {
			v = s
		}
		intID, err := integrationID(cfg)
		if err != nil {
			return err
		}
		if _, err := a.AhaWriter.SetIntegrationField(ctx, aha.KindIdea, target, intID, k, v); err != nil {
			return Classify(fmt.Sprintf("set integration field %s on idea %s", k, target), err)
		}
	}
	return nil
}

// pushCreate creates the idea or feature of a create macro — exactly once per
// feedback, not per run: a feedback already linked (its stamp is on a record)
// gets that record updated with the mapped fields or left alone
// (plan.OnLinked); a retried attempt first looks for what an ambiguous
// earlier attempt of this run committed (stamped, or an unstamped twin).
func (a *Activities) pushCreate(ctx context.Context, cfg *mapping.Config, req PushRequest, body map[string]any) (PushResult, error) {
	p := req.Plan
	log := a.Logger.With("macro", p.Macro, "action", p.Action, "feedback_id", p.FeedbackID)
	kind, where := aha.KindIdea, "product "+p.Product
	if p.Action == mapping.ActionCreateFeature {
		kind, where = aha.KindFeature, "release "+p.Release
	}
	retry := activity.GetInfo(ctx).Attempt > 1 || req.LookupFirst
	found, err := a.linkedRecord(ctx, cfg, kind, p.FeedbackID)
	if err != nil {
		return PushResult{}, Classify(fmt.Sprintf("look up the %s of Centercode feedback %s", kind, p.FeedbackID), err)
	}
	if found == nil && retry && !req.Since.IsZero() {
		// Not stamped: an ambiguous create (committed, answer lost) left a
		// record no stamp names. Find it by what was sent.
		list := func(page int) ([]aha.Record, aha.Pagination, error) {
			if kind == aha.KindFeature {
				return a.AhaWriter.ListReleaseFeatures(ctx, p.Release, page, 200)
			}
			return a.AhaWriter.ListIdeas(ctx, aha.ListQuery{ProductID: p.Product, UpdatedSince: req.Since.Add(-twinLookback), Page: page, PerPage: 200})
		}
		if found, err = a.unstampedTwin(ctx, cfg, kind, list, p.FeedbackID, body, req.Since); err != nil {
			return PushResult{}, Classify(fmt.Sprintf("look for an unstamped %s of Centercode feedback %s before re-creating", kind, p.FeedbackID), err)
		}
		if found != nil {
			log.Info("adopted a record an earlier attempt created", "aha_reference", found.ReferenceNum)
			return PushResult{Kind: kind, ID: found.ID.String(), Reference: found.ReferenceNum, URL: found.URL, Adopted: true}, nil
		}
	}
	if found != nil {
		out := PushResult{Kind: kind, ID: found.ID.String(), Reference: found.ReferenceNum, URL: found.URL, Adopted: true, Stamped: true}
		if retry && createdSince(found.Raw, req.Since) {
			// This run's own earlier attempt made it (answer lost): adopt it
			// as it is. One made before this run is another run's: on_linked.
			log.Info("adopted the record this run's earlier attempt created", "aha_reference", found.ReferenceNum)
			return out, nil
		}
		if p.OnLinked == mapping.OnLinkedSkip {
			log.Info("feedback already linked; on_linked: skip", "aha_reference", found.ReferenceNum)
			out.Linked = "skipped"
			return out, nil
		}
		upd := make(map[string]any, len(body))
		for k, v := range body {
			if !createOnly[k] {
				upd[k] = v
			}
		}
		update := a.AhaWriter.UpdateIdea
		if kind == aha.KindFeature {
			update = a.AhaWriter.UpdateFeature
		}
		rec, err := update(ctx, found.ID.String(), upd)
		if err != nil {
			return PushResult{}, Classify(fmt.Sprintf("update %s %s, already linked to Centercode feedback %s", kind, found.ReferenceNum, p.FeedbackID), err)
		}
		log.Info("feedback already linked; updated its record (on_linked: update)", "aha_reference", rec.ReferenceNum)
		out.ID, out.Reference, out.URL, out.Linked = rec.ID.String(), rec.ReferenceNum, rec.URL, "updated"
		return out, nil
	}
	create := a.AhaWriter.CreateIdea
	target := p.Product
	if kind == aha.KindFeature {
		create, target = a.AhaWriter.CreateFeature, p.Release
	}
	rec, err := create(ctx, target, body)
	if err != nil {
		return PushResult{}, Classify(fmt.Sprintf("create %s in %s for Centercode feedback %s", kind, where, p.FeedbackID), err)
	}
	return PushResult{Kind: kind, ID: rec.ID.String(), Reference: rec.ReferenceNum, URL: rec.URL, Created: true}, nil
}

// createdSince reports whether a record (as Aha! lists it: created_at) was
// created since the run first pushed, allowing for clock skew. A record
// without a readable created_at counts as this run's (adopted as it is, as
// before on_linked existed).
func createdSince(raw []byte, since time.Time) bool {
	var r struct {
		CreatedAt string `json:"created_at"`
	}
	if since.IsZero() || json.Unmarshal(raw, &r) != nil {
		return true
	}
	at, err := time.Parse(time.RFC3339Nano, r.CreatedAt)
	return err != nil || !at.Before(since.Add(-twinLookback))
}

// createOnly are create fields an update of a linked record leaves out.
var createOnly = map[string]bool{"created_by": true, "skip_portal": true}

// postedComment reports whether the idea has a comment with this body posted
// since the run first pushed (an earlier attempt whose answer was lost).
// Bodies are compared as text: Aha! may rewrite the HTML it stores.
func (a *Activities) postedComment(ctx context.Context, ideaRef, bodyHTML string, since time.Time) (bool, error) {
	want := mapping.HTMLText(bodyHTML)
	from := since.Add(-twinLookback)
	for page := 1; page <= 10; page++ {
		comments, pag, err := a.AhaWriter.ListComments(ctx, aha.KindIdea, ideaRef, page, 200)
		if err != nil {
			return false, err
		}
		for _, c := range comments {
			at, err := time.Parse(time.RFC3339Nano, c.CreatedAt)
			if err == nil && at.Before(from) && !since.IsZero() {
				continue
			}
			if mapping.HTMLText(c.Body) == want {
				return true, nil
			}
		}
		if page >= pag.TotalPages || len(comments) == 0 {
			break
		}
	}
	return false, nil
}

// twinLookback widens the window an unstamped twin is looked for in, for
// clock skew between Temporal and Aha!.
const twinLookback = 30 * time.Second

// unstampedTwin finds the idea or feature an earlier, ambiguous attempt of
// this create committed: listed by list, with exactly the name (and
// description, when one was sent) of the planned body, not stamped with
// another feedback's id (read afresh: list items carry no integration or
// custom fields), created since the run first pushed — the earliest such
// record, else (clock skew) the latest within twinLookback before it; nil
// when none. It relies on Aha! listing a product's ideas (by updated_since)
// or a release's features with their names and creation times
// (aha-openapi.json's examples) — a page or two — plus one read per
// candidate. Two feedback items with the same title and description whose
// creates both end ambiguously within seconds could adopt each other's
// record; each would still link exactly one.
func (a *Activities) unstampedTwin(ctx context.Context, cfg *mapping.Config, kind string, list func(page int) ([]aha.Record, aha.Pagination, error),
	feedbackID string, body map[string]any, since time.Time) (*aha.Record, error) {
	name, _ := body["name"].(string)
	if strings.TrimSpace(name) == "" {
		return nil, nil
	}
	desc, hasDesc := body["description"].(string)
	from := since.Add(-twinLookback)
	type candidate struct {
		rec aha.Record
		at  time.Time
	}
	var cands []candidate
	for page := 1; page <= 5; page++ {
		recs, pag, err := list(page)
		if err != nil {
			return nil, err
		}
		for i := range recs {
			var d struct {
				Name      string `json:"name"`
				CreatedAt string `json:"created_at"`
			}
			if json.Unmarshal(recs[i].Raw, &d) != nil || strings.TrimSpace(d.Name) != strings.TrimSpace(name) {
				continue
			}
			if at, err := time.Parse(time.RFC3339Nano, d.CreatedAt); err == nil && !at.Before(from) {
				cands = append(cands, candidate{recs[i], at})
			}
		}
		if page >= pag.TotalPages || len(recs) == 0 {
			break
		}
	}
	// Created since the first push, earliest first; then before it, latest first.
	sort.SliceStable(cands, func(i, j int) bool {
		ai, aj := !cands[i].at.Before(since), !cands[j].at.Before(since)
		if ai != aj {
			return ai
		}
		if ai {
			return cands[i].at.Before(cands[j].at)
		}
		return cands[i].at.After(cands[j].at)
	})
	for _, c := range cands {
		rec := c.rec
		full := rec.Raw
		if a.Aha != nil {
			r, err := a.Aha.GetRecord(ctx, kind, rec.ID.String())
			if err != nil {
				return nil, err
			}
			full = r.JSON
		}
		if hasDesc {
			var d struct {
				Description struct {
					Body string `json:"body"`
				} `json:"description"`
			}
			if json.Unmarshal(full, &d) != nil || strings.TrimSpace(d.Description.Body) != strings.TrimSpace(desc) {
				continue
			}
		}
		// The config may also send the feedback id as a custom field of the
		// same key in the create itself: then the twin names us.
		if v := integrationValue(full, cfg.Aha.IntegrationField); v != "" && v != feedbackID {
			continue // stamped: another feedback's record
		}
		return &rec, nil
	}
	return nil, nil
}

// target resolves the idea a comment, status or integration field goes to.
func (a *Activities) target(ctx context.Context, cfg *mapping.Config, p MacroPlan) (string, error) {
	if p.Target != "" {
		return p.Target, nil
	}
	found, err := a.linkedIdea(ctx, cfg, p.FeedbackID)
	if err != nil {
		return "", Classify(fmt.Sprintf("find the idea linked to Centercode feedback %s", p.FeedbackID), err)
	}
	if found == nil {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no Aha! idea is linked to Centercode feedback %s (its integration field %s is not set on any idea): push the feedback to Aha! first, or send ahaReference in the macro body",
				p.FeedbackID, cfg.Aha.IntegrationField), ErrTypeNotFound, nil)
	}
	if ref := found.ReferenceNum; ref != "" {
		return ref, nil
	}
	return found.ID.String(), nil
}

// linkedIdea finds the idea stamped with a Centercode feedback id (nil: none).
func (a *Activities) linkedIdea(ctx context.Context, cfg *mapping.Config, feedbackID string) (*aha.Record, error) {
	return a.linkedRecord(ctx, cfg, aha.KindIdea, feedbackID)
}

// linkedRecord finds the idea or feature stamped with a Centercode feedback
// id (nil: none).
func (a *Activities) linkedRecord(ctx context.Context, cfg *mapping.Config, kind, feedbackID string) (*aha.Record, error) {
	rec, err := a.AhaWriter.FindByField(ctx, kind, cfg.Aha.IntegrationField, feedbackID)
	if err != nil || rec == nil {
		return rec, err
	}
	if rec.ID.String() == "" && len(rec.Raw) > 0 {
		// Aha!'s example answers for the sibling endpoints wrap each record
		// ({"idea": {...}}); accept that shape too.
		var wrapped struct {
			Idea    json.RawMessage `json:"idea"`
			Feature json.RawMessage `json:"feature"`
		}
		_ = json.Unmarshal(rec.Raw, &wrapped)
		if len(wrapped.Idea) == 0 {
			wrapped.Idea = wrapped.Feature
		}
		if len(wrapped.Idea) > 0 {
			var h struct {
				ID           aha.FlexID `json:"id"`
				ReferenceNum string     `json:"reference_num"`
				URL          string     `json:"url"`
			}
			if json.Unmarshal(wrapped.Idea, &h) == nil {
				rec = &aha.Record{ID: h.ID, ReferenceNum: h.ReferenceNum, URL: h.URL, Raw: wrapped.Idea}
			}
		}
	}
	if rec.ID.String() == "" && rec.ReferenceNum == "" {
		return nil, nil
	}
	return rec, nil
}

// integrationID is aha.integration_id; empty, the stamp and
// set_integration_field park with what to set.
func integrationID(cfg *mapping.Config) (string, error) {
	if cfg.Aha.IntegrationID != "" {
		return cfg.Aha.IntegrationID, nil
	}
	return "", temporal.NewNonRetryableApplicationError("aha.integration_id is empty: set AHA_INTEGRATION_ID to the id of the Aha! integration "+
		"whose fields ahacc writes (Settings → Workspace → Integrations; the number in its URL)", ErrTypeConfig, nil)
}

// StampAhaRecord writes the Centercode feedback id into the new idea's or
// feature's integration field (aha.integration_field of aha.integration_id). The stamp is the link ledger: the Aha! webhook
// that follows ahacc's create is recognised by it (no echo feedback), and a
// retried create — or a later run for the same feedback — finds the record
// by it.
func (a *Activities) StampAhaRecord(ctx context.Context, req StampRequest) error {
	if a.AhaWriter == nil {
		return temporal.NewNonRetryableApplicationError("this worker has no Aha! client for macros", ErrTypeConfig, nil)
	}
	cfg := a.config()
	kind := req.Kind
	if kind == "" {
		kind = aha.KindIdea
	}
	intID, err := integrationID(cfg)
	if err != nil {
		return err
	}
	if _, err := a.AhaWriter.SetIntegrationField(ctx, kind, req.IdeaID, intID, cfg.Aha.IntegrationField, req.FeedbackID); err != nil {
		return Classify(fmt.Sprintf("stamp Centercode feedback %s on %s %s", req.FeedbackID, kind, req.IdeaID), err)
	}
	return nil
}

// WriteBackLink stores the Aha! reference and URL on the Centercode feedback
// through the feedback listener (custom data), so the feedback shows its link.
func (a *Activities) WriteBackLink(ctx context.Context, req WriteBackRequest) (WriteBackResult, error) {
	cfg := a.config()
	listener := cfg.Centercode.FeedbackListenerURL.Value()
	if listener == "" {
		return WriteBackResult{Skipped: "no centercode.feedback_listener_url configured"}, nil
	}
	body := map[string]any{centercode.FeedbackKey: req.FeedbackID, WriteBackKeyReference: req.AhaReference}
	if req.AhaURL != "" {
		body[WriteBackKeyURL] = req.AhaURL
	}
	data, _ := json.Marshal(body)
	if err := a.Centercode.PostListener(ctx, listener, data); err != nil {
		return WriteBackResult{}, Classify(fmt.Sprintf("write Aha! link %s back to Centercode feedback %s", req.AhaReference, req.FeedbackID), err)
	}
	return WriteBackResult{}, nil
}

// StatusRulesFor tells a FeedbackWorkflow which macros a Centercode status
// fires under the current config (run as a local activity).
func (a *Activities) StatusRulesFor(ctx context.Context, req RulesRequest) (Rules, error) {
	cfg := a.config()
	out := Rules{ConfigHash: cfg.ShortHash()}
	for _, r := range cfg.StatusRules.MacrosFor(req.Status) {
		out.Actions = append(out.Actions, RuleAction{Macro: r.Macro, EveryTime: r.EveryTime, Creates: createAction(cfg, r.Macro)})
	}
	return out, nil
}

// MacroInfoRequest asks what a macro of the current config does.
type MacroInfoRequest struct {
	Macro string `json:"macro"`
}

// MacroInfo tells a FeedbackWorkflow whether a macro an operator runs
// creates an Aha! record (run as a local activity). An unknown macro is
// answered as it is; its run parks with the config's words.
func (a *Activities) MacroInfo(ctx context.Context, req MacroInfoRequest) (RuleAction, error) {
	return RuleAction{Macro: req.Macro, Creates: createAction(a.config(), req.Macro)}, nil
}

// createAction is a create macro's action ("" for the other macros).
func createAction(cfg *mapping.Config, name string) string {
	if m := cfg.Macro(name); m != nil && m.Creates() {
		return m.Action
	}
	return ""
}

// SetCentercodeStatus sets a feedback's Centercode status through the
// feedback listener ({"feedbackId", "status"}), telling the feedback's
// FeedbackWorkflow first, so the status-changed webhook Centercode sends back
// is recognised as ahacc's own and fires no macro (no echo).
func (a *Activities) SetCentercodeStatus(ctx context.Context, req SetStatusRequest) error {
	cfg := a.config()
	listener := cfg.Centercode.StatusListener(req.Status).Value()
	if listener == "" {
		// The config load refuses a from_aha status without one; a reload
		// that dropped it since parks the record until it is back.
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("set Centercode feedback %s to %q: centercode.status_listeners has no listener for that status", req.FeedbackID, req.Status), ErrTypeConfig, nil)
	}
	if a.Statuses != nil {
		if err := a.Statuses.ExpectStatus(ctx, req.FeedbackID, req.Status, cfg.Sync.EchoWindow); err != nil {
			return temporal.NewApplicationError(fmt.Sprintf("tell feedback %s to expect status %q: %v", req.FeedbackID, req.Status, err), ErrTypeTransient)
		}
	}
	data, _ := json.Marshal(map[string]any{centercode.FeedbackKey: req.FeedbackID, "status": req.Status})
	if err := a.Centercode.PostListener(ctx, listener, data); err != nil {
		return Classify(fmt.Sprintf("set Centercode feedback %s to %q", req.FeedbackID, req.Status), err)
	}
	return nil
}
