package aha

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/ahacc/ahacc/internal/sandbox/simkit"
)

// ErrNotFound is returned by the Go methods for unknown records.
var ErrNotFound = errors.New("aha sim: not found")

func readAny(r *http.Request, v any) error { return simkit.ReadJSON(r, maxBodyBytes, v) }

func goErr(e *apiErr) error {
	if e == nil {
		return nil
	}
	if e.status == http.StatusNotFound {
		return fmt.Errorf("%w: %v", ErrNotFound, e.body)
	}
	return e
}

// setIntegrationFields upserts fields on an idea for one integration; returns the ids of
// that integration's fields on the idea. Call with s.mu held.
func (s *Server) setIntegrationFields(rec *record, integrationID string, fields []map[string]any, actor map[string]any, kind string) []string {
	now := s.st.now()
	cur := anyList(rec.doc["integration_fields"])
	var changes []change
	for _, f := range fields {
		name, _ := str(f["name"])
		value, _ := str(f["value"])
		var found map[string]any
		for _, x := range cur {
			xm := obj(x)
			if fmt.Sprint(xm["integration_id"]) == integrationID && xm["name"] == name {
				found = xm
			}
		}
		old := ""
		if found == nil {
			found = map[string]any{"id": s.st.nextID(), "name": name, "integration_id": jsonNumberOrString(integrationID),
				"service_name": "rest_api", "created_at": ahaTime(now)}
			cur = append(cur, found)
		} else {
			old = fmt.Sprint(found["value"])
		}
		if old != value {
			changes = append(changes, change{"Integration field " + name, textChange(html.EscapeString(old), html.EscapeString(value))})
		}
		found["value"] = value
	}
	rec.doc["integration_fields"] = cur
	var ids []string
	for _, x := range cur {
		if xm := obj(x); fmt.Sprint(xm["integration_id"]) == integrationID {
			ids = append(ids, fmt.Sprint(xm["id"]))
		}
	}
	if len(changes) > 0 {
		rec.updated = now
		rec.doc["updated_at"] = ahaTime(now)
		s.auditRecord("update", rec, changes, actor, kind)
	}
	return ids
}

func jsonNumberOrString(v string) any {
	for _, c := range v {
		if c < '0' || c > '9' {
			return v
		}
	}
	if v == "" {
		return v
	}
	return jsonNumber(v)
}

// ---- Go methods for tests and demos. Changes made here are audited with user null
// (a system change, as aha.md says happens) and delivered like API changes. ----

// CreateIdea creates an idea in a product (id or reference prefix) from a body like the
// API's "idea" object.
func (s *Server) CreateIdea(product string, fields map[string]any) (RecordInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createIdea(product, fields, nil)
	if err != nil {
		return RecordInfo{}, goErr(err)
	}
	return s.info(r), nil
}

// UpdateIdea changes an idea (id or reference) like PUT /ideas/{id}.
func (s *Server) UpdateIdea(idOrRef string, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.ideas.get(idOrRef)
	if r == nil {
		return fmt.Errorf("%w: idea %s", ErrNotFound, idOrRef)
	}
	return goErr(s.updateRecord(r, fields, nil, s.st.ideaStatuses, false, "idea"))
}

// DeleteIdea deletes an idea (audit "destroy").
func (s *Server) DeleteIdea(idOrRef string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.ideas.get(idOrRef)
	if r == nil {
		return fmt.Errorf("%w: idea %s", ErrNotFound, idOrRef)
	}
	s.destroy(s.st.ideas, r, nil, "idea")
	return nil
}

// CreateFeature creates a feature in a release (id or reference).
func (s *Server) CreateFeature(release string, fields map[string]any) (RecordInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createFeature(release, fields, nil)
	if err != nil {
		return RecordInfo{}, goErr(err)
	}
	return s.info(r), nil
}

// UpdateFeature changes a feature like PUT /features/{id}.
func (s *Server) UpdateFeature(idOrRef string, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.features.get(idOrRef)
	if r == nil {
		return fmt.Errorf("%w: feature %s", ErrNotFound, idOrRef)
	}
	return goErr(s.updateRecord(r, fields, nil, s.st.featureStatuses, true, "feature"))
}

// AddComment comments on an idea or feature ("idea" or "feature").
func (s *Server) AddComment(kind, idOrRef, bodyHTML string) (RecordInfo, error) {
	if kind != kindIdea && kind != kindFeature {
		return RecordInfo{}, fmt.Errorf("aha sim: comments on %q are not simulated", kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.createComment(kind, idOrRef, bodyHTML, nil)
	if err != nil {
		return RecordInfo{}, goErr(err)
	}
	return s.info(r), nil
}

// Endorse adds a vote to an idea for a person (by email), as a portal vote
// does: votes and endorsements_count go up, and the vote is audited as
// Aha! audits it — on the endorsement (ideas/idea_endorsement), whose URL
// points at the idea — not on the idea.
func (s *Server) Endorse(idOrRef, email string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.ideas.get(idOrRef)
	if r == nil {
		return fmt.Errorf("%w: idea %s", ErrNotFound, idOrRef)
	}
	now := s.st.now()
	votes, _ := intVal(r.doc["votes"])
	n, _ := intVal(r.doc["endorsements_count"])
	r.doc["votes"], r.doc["endorsements_count"] = votes+1, n+1
	r.updated = now
	r.doc["updated_at"] = ahaTime(now)
	s.commit(&audit{action: "create", user: nil, kind: kindEndorsement, auditableID: s.st.nextID(),
		description: fmt.Sprintf("%s endorsed idea %s", email, r.ref), url: fmt.Sprint(r.doc["url"]),
		changes: []change{{"Weight", 1}}, assocKind: kindIdea, assocID: r.id, created: now})
	return nil
}

// SetIdeaIntegrationField sets one integration field on an idea.
func (s *Server) SetIdeaIntegrationField(idOrRef, integrationID, name, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.ideas.get(idOrRef)
	if r == nil {
		return fmt.Errorf("%w: idea %s", ErrNotFound, idOrRef)
	}
	s.setIntegrationFields(r, integrationID, []map[string]any{{"name": name, "value": value}}, nil, kindIdea)
	return nil
}

// CreateIdeaUser creates an idea user: email (required), name or first_name/last_name,
// idea_organization_id (optional).
func (s *Server) CreateIdeaUser(fields map[string]any) (RecordInfo, error) {
	email, _ := str(fields["email"])
	if !strings.Contains(email, "@") {
		return RecordInfo{}, invalid("Email is invalid")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.ideaUsers.get(strings.ToLower(email)) != nil {
		return RecordInfo{}, invalid("Email has already been taken")
	}
	return s.info(s.createIdeaUserLocked(fields, nil)), nil
}

// UpdateIdeaUser changes name, email or custom_fields ({key: value}) of an idea user.
func (s *Server) UpdateIdeaUser(id string, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.ideaUsers.get(id)
	if r == nil {
		return fmt.Errorf("%w: idea user %s", ErrNotFound, id)
	}
	s.setSimple(r, fields, []string{"name", "email"}, nil, "idea user")
	return nil
}

// LinkIdeaUserToOrganization adds an organization to an idea user.
func (s *Server) LinkIdeaUserToOrganization(userID, orgID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, o := s.st.ideaUsers.get(userID), s.st.orgs.get(orgID)
	if u == nil || o == nil {
		return fmt.Errorf("%w: idea user %s or organization %s", ErrNotFound, userID, orgID)
	}
	if contains(u.orgIDs, o.id) {
		return nil
	}
	s.linkOrg(u, o)
	u.updated = s.st.now()
	s.auditRecord("update", u, []change{{"Idea organizations", html.EscapeString(o.doc["name"].(string))}}, nil, "idea user")
	return nil
}

// CreateIdeaPortal adds an idea portal (accessType public, submit-only or private;
// empty: public) and returns its id.
func (s *Server) CreateIdeaPortal(title, accessType string) (string, error) {
	switch accessType {
	case "":
		accessType = "public"
	case "public", "submit-only", "private":
	default:
		return "", fmt.Errorf("idea portal access type %q: want public, submit-only or private", accessType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addPortalLocked(s.st.nextID(), title, accessType, s.st.now()).id, nil
}

// CreatePortalUser creates a portal user in an idea portal for an existing idea user.
func (s *Server) CreatePortalUser(portalID, ideaUserID, firstName, lastName string) (RecordInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.portals[portalID]; !ok {
		return RecordInfo{}, fmt.Errorf("%w: idea portal %s", ErrNotFound, portalID)
	}
	u := s.st.ideaUsers.get(ideaUserID)
	if u == nil {
		return RecordInfo{}, fmt.Errorf("%w: idea user %s", ErrNotFound, ideaUserID)
	}
	return s.info(s.createPortalUserLocked(portalID, u, firstName, lastName, nil)), nil
}

// UpdatePortalUser changes first_name, last_name, email, enabled, verified or employee.
func (s *Server) UpdatePortalUser(id string, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.portalUsers.get(id)
	if r == nil {
		return fmt.Errorf("%w: portal user %s", ErrNotFound, id)
	}
	s.setSimple(r, fields, []string{"first_name", "last_name", "email", "enabled", "verified", "employee"}, nil, "portal user")
	return nil
}

// CreateOrganization creates an idea organization: name, email_domains ("a.com, b.com"), revenue.
func (s *Server) CreateOrganization(fields map[string]any) (RecordInfo, error) {
	name, _ := str(fields["name"])
	if strings.TrimSpace(name) == "" {
		return RecordInfo{}, invalid("Name can't be blank")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info(s.createOrgLocked(fields, nil)), nil
}

// UpdateOrganization changes name, email_domains, revenue or custom_fields.
func (s *Server) UpdateOrganization(id string, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.orgs.get(id)
	if r == nil {
		return fmt.Errorf("%w: organization %s", ErrNotFound, id)
	}
	s.setSimple(r, fields, []string{"name", "email_domains", "revenue"}, nil, "idea organization")
	return nil
}

// BulkPeople quickly adds users idea users spread round-robin over orgs new
// organizations (orgs <= 0: none), each user with a portal user in the seeded portal.
// Every record gets its create audit but no webhook is delivered for them (bulk loading;
// use the single-record methods to exercise webhooks). It returns the idea user ids.
func (s *Server) BulkPeople(users, orgs int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	url, suppress := s.hooks.config()
	s.hooks.set("", suppress)
	defer s.hooks.set(url, suppress)
	n0 := len(s.st.orgs.list)
	var orgRecs []*record
	for i := 0; i < orgs; i++ {
		name := fmt.Sprintf("Bulk Org %03d", n0+i+1)
		domain := fmt.Sprintf("bulk-org-%03d.example", n0+i+1)
		orgRecs = append(orgRecs, s.createOrgLocked(map[string]any{"name": name, "email_domains": domain, "revenue": fmt.Sprint(10000 * (i + 1))}, nil))
	}
	portal := ""
	if ps := s.portalsLocked(); len(ps) > 0 {
		portal = ps[0].id
	}
	u0 := len(s.st.ideaUsers.list)
	ids := make([]string, 0, users)
	for i := 0; i < users; i++ {
		k := u0 + i + 1
		domain := fmt.Sprintf("bulk-%05d.example", k)
		var org *record
		if len(orgRecs) > 0 {
			org = orgRecs[i%len(orgRecs)]
			domain = strings.Split(org.doc["email_domains"].(string), ",")[0]
		}
		first, last := firstNames[k%len(firstNames)], lastNames[(k/len(firstNames))%len(lastNames)]
		email := fmt.Sprintf("%s.%s.%d@%s", strings.ToLower(first), strings.ToLower(last), k, domain)
		u := s.createIdeaUserLocked(map[string]any{"email": email, "name": first + " " + last}, nil)
		if org != nil {
			s.linkOrg(u, org)
		}
		if portal != "" {
			s.createPortalUserLocked(portal, u, first, last, nil)
		}
		ids = append(ids, u.id)
	}
	return ids
}

var firstNames = []string{"Ada", "Ben", "Chloe", "Dev", "Eva", "Femi", "Grace", "Hiro", "Ines", "Jon", "Kira", "Luis", "Mei", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara"}
var lastNames = []string{"Nguyen", "Okafor", "Schmidt", "Rossi", "Kowalski", "Tanaka", "Silva", "Haddad", "Larsen", "Patel"}

// ---- inspection as Go methods ----

// Counts are the numbers of records held.
type Counts struct {
	Products          int `json:"products"`
	Releases          int `json:"releases"`
	IdeaPortals       int `json:"idea_portals"`
	Ideas             int `json:"ideas"`
	Features          int `json:"features"`
	Comments          int `json:"comments"`
	IdeaUsers         int `json:"idea_users"`
	PortalUsers       int `json:"portal_users"`
	IdeaOrganizations int `json:"idea_organizations"`
	Audits            int `json:"audits"`
}

// Counts returns the record counts.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counts{Products: len(s.st.products), Releases: len(s.st.releaseList), IdeaPortals: len(s.st.portals),
		Ideas: len(s.st.ideas.list), Features: len(s.st.features.list), Comments: len(s.st.comments.list),
		IdeaUsers: len(s.st.ideaUsers.list), PortalUsers: len(s.st.portalUsers.list), IdeaOrganizations: len(s.st.orgs.list),
		Audits: len(s.st.audits)}
}

// Audits returns every audit in the REST form (as GET /api/v1/audits shows them).
func (s *Server) Audits() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.st.audits))
	for _, a := range s.st.audits {
		out = append(out, a.rest())
	}
	return out
}

// LastAuditID returns the id of the newest audit ("" when none).
func (s *Server) LastAuditID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.st.audits) == 0 {
		return ""
	}
	return s.st.audits[len(s.st.audits)-1].id
}

// WebhookPayloads returns the activity-webhook bodies of every audit after afterID (all
// when empty), as they are (or would be) delivered: useful to replay lost webhooks.
func (s *Server) WebhookPayloads(afterID string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, a := range s.st.audits {
		if afterID == "" || idLess(afterID, a.id) {
			b, _ := jsonMarshal(a.webhook())
			out = append(out, s.rebaseLocked(b))
		}
	}
	return out
}

// SetWebhook changes the hook URL (empty: none) and whether deliveries are suppressed
// (audits recorded, webhooks lost).
func (s *Server) SetWebhook(url string, suppress bool) { s.hooks.set(url, suppress) }

// Deliveries lists the webhook deliveries made (and suppressed), oldest first.
func (s *Server) Deliveries() []Delivery { return s.hooks.deliveries() }

// WaitWebhooks blocks until every queued webhook has been delivered, or ctx ends.
func (s *Server) WaitWebhooks(ctx context.Context) error { return s.hooks.wait(ctx) }

// PortalIDs returns the ids of the idea portals, in Aha!'s list order (ascending id).
func (s *Server) PortalIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.portalsLocked() {
		out = append(out, p.id)
	}
	return out
}
