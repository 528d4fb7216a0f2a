package aha

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"
)

// Record kinds.
const (
	kindIdea        = "idea"
	kindFeature     = "feature"
	kindComment     = "comment"
	kindEndorsement = "idea_endorsement"
	kindIdeaUser    = "idea_user"
	kindPortalUser  = "portal_user"
	kindOrg         = "idea_organization"
)

// auditTypes maps a kind to its audit auditable_type in the REST API (Rails class name)
// and in the activity webhook (aha.md §1: "feature", "ideas/idea", …). The Ideas types
// other than ideas/idea follow the ideas/<model> pattern aha.md describes; the exact
// strings are unknown (assumed).
var auditTypes = map[string][2]string{
	kindIdea:       {"Ideas::Idea", "ideas/idea"},
	kindFeature:    {"Feature", "feature"},
	kindComment:    {"Comment", "comment"},
	kindIdeaUser:   {"Ideas::IdeaUser", "ideas/idea_user"},
	kindPortalUser: {"Ideas::PortalUser", "ideas/portal_user"},
	kindOrg:        {"Ideas::IdeaOrganization", "ideas/idea_organization"},
	"note":         {"Note", "note"},
	// A vote (aha.md §1: ideas/idea_endorsement). Assumed: like a note's, its
	// auditable_url points at the idea it endorses.
	kindEndorsement: {"Ideas::IdeaEndorsement", "ideas/idea_endorsement"},
}

type record struct {
	kind             string
	id, ref          string
	created, updated time.Time
	doc              map[string]any
	productID        string // idea, feature, comment
	releaseID        string // feature
	parentKind       string // comment: idea or feature
	parentID         string // comment
	email            string // idea user, portal user
	orgIDs           []string
	portalID         string // portal user
	ideaUserID       string // portal user
}

// portal is an idea portal; doc has the fields of GET /api/v1/idea_portals items.
type portal struct {
	id  string
	doc map[string]any
}

type table struct {
	list  []*record
	byKey map[string]*record // id, reference_num, lower-case email
}

func newTable() *table { return &table{byKey: map[string]*record{}} }

func (t *table) add(r *record) {
	t.list = append(t.list, r)
	t.byKey[r.id] = r
	if r.ref != "" {
		t.byKey[strings.ToUpper(r.ref)] = r
	}
}

func (t *table) get(key string) *record {
	if r, ok := t.byKey[key]; ok {
		return r
	}
	return t.byKey[strings.ToUpper(key)]
}

func (t *table) remove(r *record) {
	delete(t.byKey, r.id)
	delete(t.byKey, strings.ToUpper(r.ref))
	for i, x := range t.list {
		if x == r {
			t.list = append(t.list[:i], t.list[i+1:]...)
			break
		}
	}
}

type product struct {
	id, prefix, name string
	created          time.Time
	ideaSeq          int
	featureSeq       int
	integrations     []integration
}

// integration is an integration configured in a product (workspace); Aha!
// refuses integration fields for one the record's product does not have.
type integration struct {
	id, name, service string
}

type release struct {
	id, ref, name string
	productID     string
	doc           map[string]any
}

type status struct {
	id, name, color string
	position        int
	complete        bool
}

func (s status) json() map[string]any {
	return map[string]any{"id": s.id, "name": s.name, "position": s.position, "complete": s.complete, "color": s.color}
}

type change struct {
	field string
	value any // string (HTML) or integer
}

type audit struct {
	id          string
	action      string // create, update, destroy
	created     time.Time
	user        map[string]any // nil: a system change
	kind        string
	auditableID string
	description string
	url         string
	changes     []change
	assocKind   string
	assocID     string
}

type state struct {
	now    func() time.Time
	rng    *rand.Rand
	lastID uint64
	smallN int64

	products     []*product
	productByKey map[string]*product
	releases     map[string]*release // id and reference
	releaseList  []*release
	portals      map[string]*portal // idea portal id → portal

	ideas, features, comments, ideaUsers, portalUsers, orgs *table
	ideaStatuses, featureStatuses                           []status
	customFields                                            []customFieldDef
	audits                                                  []*audit
}

func newState(now func() time.Time, rng *rand.Rand) *state {
	return &state{
		now: now, rng: rng,
		lastID:       6776881149480000000,
		smallN:       900000000,
		productByKey: map[string]*product{},
		releases:     map[string]*release{},
		portals:      map[string]*portal{},
		ideas:        newTable(), features: newTable(), comments: newTable(),
		ideaUsers: newTable(), portalUsers: newTable(), orgs: newTable(),
	}
}

// nextID returns a new 19-digit id, always larger than every earlier one.
func (st *state) nextID() string {
	st.lastID += uint64(1 + st.rng.Intn(997))
	return strconv.FormatUint(st.lastID, 10)
}

// smallID returns a numeric id for nested records Aha! numbers (custom fields, tags).
func (st *state) smallID() json.Number {
	st.smallN += int64(1 + st.rng.Intn(9973))
	return json.Number(strconv.FormatInt(st.smallN, 10))
}

// ahaTime formats t like Aha! does: 2019-01-01T00:00:00.000Z.
func ahaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// idLess compares two decimal ids numerically.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func (st *state) findStatus(list []status, name string) (status, bool) {
	for _, s := range list {
		if strings.EqualFold(s.name, name) {
			return s, true
		}
	}
	return status{}, false
}

// page applies page/per_page (Aha!: page from 1, per_page max 200).
func page[T any](items []T, pageNo, perPage int) ([]T, map[string]any) {
	total := len(items)
	pages := (total + perPage - 1) / perPage
	start := (pageNo - 1) * perPage
	var out []T
	if start < total {
		end := min(start+perPage, total)
		out = items[start:end]
	}
	if out == nil {
		out = []T{}
	}
	return out, map[string]any{"total_records": total, "total_pages": pages, "current_page": pageNo}
}

// listParams reads a list's paging and updated_since.
func listParams(q map[string][]string) (pg, pp int, since time.Time, err error) {
	if pg, pp, err = pageParams(q); err != nil {
		return
	}
	if v := first(q, "updated_since"); v != "" {
		if since, err = parseTime(v); err != nil {
			err = fmt.Errorf("updated_since: %w", err)
		}
	}
	return
}

func pageParams(q map[string][]string) (int, int, error) {
	p, pp := 1, DefaultPerPage
	if v := first(q, "page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, fmt.Errorf("page must be a positive integer, got %q", v)
		}
		p = n
	}
	if v := first(q, "per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, fmt.Errorf("per_page must be a positive integer, got %q", v)
		}
		pp = min(n, MaxPerPage)
	}
	return p, pp, nil
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// parseTime accepts RFC 3339 timestamps and plain dates.
func parseTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time", v)
}

// project returns only keys of doc (compact list representation).
func project(doc map[string]any, keys []string) map[string]any {
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		if v, ok := doc[k]; ok {
			out[k] = deepCopy(v)
		}
	}
	return out
}

// ---- audits ----

// auditREST renders an audit the way GET /api/v1/audits returns it (numeric ids).
func (a *audit) rest() map[string]any {
	t := auditTypes[a.kind]
	var user any
	contributors := []any{}
	if a.user != nil {
		user = deepCopy(a.user)
		contributors = append(contributors, deepCopy(a.user))
	}
	m := map[string]any{
		"id":              a.id,
		"audit_action":    a.action,
		"created_at":      ahaTime(a.created),
		"interesting":     true,
		"user":            user,
		"auditable_type":  t[0],
		"auditable_id":    json.Number(a.auditableID),
		"description":     a.description,
		"auditable_url":   a.url,
		"changes":         a.changeList(),
		"contributors":    contributors,
		"associated_type": auditTypes[a.assocKind][0],
		"associated_id":   json.Number(a.assocID),
	}
	return m
}

// webhook renders the activity-webhook body exactly as aha.md §1 shows (string ids).
func (a *audit) webhook() map[string]any {
	var user any
	if a.user != nil {
		user = deepCopy(a.user)
	}
	return map[string]any{
		"event": "audit",
		"audit": map[string]any{
			"id":             a.id,
			"audit_action":   a.action,
			"created_at":     ahaTime(a.created),
			"interesting":    true,
			"user":           user,
			"auditable_type": auditTypes[a.kind][1],
			"auditable_id":   a.auditableID,
			"description":    a.description,
			"auditable_url":  a.url,
			"changes":        a.changeList(),
		},
	}
}

func (a *audit) changeList() []any {
	out := make([]any, 0, len(a.changes))
	for _, c := range a.changes {
		out = append(out, map[string]any{"field_name": c.field, "value": c.value})
	}
	return out
}

// integrationOf is the integration id of a product (by id), or nil.
func (st *state) integrationOf(productID, id string) *integration {
	for _, p := range st.products {
		if p.id != productID {
			continue
		}
		for i := range p.integrations {
			if p.integrations[i].id == id {
				return &p.integrations[i]
			}
		}
	}
	return nil
}
