package aha

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

var (
	ideaListKeys    = fixtureKeys("idea_list_item")
	featureListKeys = fixtureKeys("feature_list_item")
	orgListKeys     = fixtureKeys("idea_organization_list_item")
)

func badQuery(err error) (int, any) {
	return http.StatusBadRequest, validationBody(err.Error())
}

// committed answers a write: unless fault injection drops the connection after the
// commit ("commit then time out"), it returns status and body for wrap to write.
func (s *Server) committed(w http.ResponseWriter, r *http.Request, status int, body any) (int, any) {
	if s.injector.AfterCommit(w, r) {
		return 0, nil
	}
	return status, body
}

// listFeatures answers GET /api/v1/features: every feature, newest first,
// paged (updated_since narrows it), as compact list items.
func (s *Server) listFeatures(w http.ResponseWriter, r *http.Request) (int, any) {
	q := r.URL.Query()
	pg, pp, since, err := listParams(q)
	if err != nil {
		return badQuery(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for i := len(s.st.features.list) - 1; i >= 0; i-- {
		rec := s.st.features.list[i]
		if !since.IsZero() && rec.updated.Before(since) {
			continue
		}
		out = append(out, project(rec.doc, featureListKeys))
	}
	items, pag := page(out, pg, pp)
	return http.StatusOK, map[string]any{"features": items, "pagination": pag}
}

func (s *Server) listIdeas(w http.ResponseWriter, r *http.Request) (int, any) {
	q := r.URL.Query()
	pg, pp, since, err := listParams(q)
	if err != nil {
		return badQuery(err)
	}
	search := strings.ToLower(first(q, "q"))
	s.mu.Lock()
	defer s.mu.Unlock()
	productID := ""
	if pk := r.PathValue("product_id"); pk != "" {
		p := s.st.productByKey[strings.ToUpper(pk)]
		if p == nil {
			return http.StatusNotFound, errorBody("Product " + pk + " not found")
		}
		productID = p.id
	}
	var out []map[string]any
	// Aha! lists ideas newest first.
	for i := len(s.st.ideas.list) - 1; i >= 0; i-- {
		rec := s.st.ideas.list[i]
		if productID != "" && rec.productID != productID {
			continue
		}
		if !since.IsZero() && rec.updated.Before(since) {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(fmt.Sprint(rec.doc["name"])), search) {
			continue
		}
		out = append(out, project(rec.doc, ideaListKeys))
	}
	items, pag := page(out, pg, pp)
	return http.StatusOK, map[string]any{"ideas": items, "pagination": pag}
}

func (s *Server) getIdea(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.st.ideas.get(r.PathValue("id"))
	if rec == nil {
		return http.StatusNotFound, errorBody("Idea " + r.PathValue("id") + " not found")
	}
	return http.StatusOK, map[string]any{"idea": deepCopy(rec.doc)}
}

func (s *Server) postIdea(w http.ResponseWriter, r *http.Request) (int, any) {
	in, st, body := readBody(r, "idea")
	if in == nil {
		return st, body
	}
	s.mu.Lock()
	rec, aerr := s.createIdea(r.PathValue("product_id"), in, s.apiUser())
	var doc any
	if rec != nil {
		doc = deepCopy(rec.doc)
	}
	s.mu.Unlock()
	if aerr != nil {
		return aerr.status, aerr.body
	}
	return s.committed(w, r, http.StatusOK, map[string]any{"idea": doc})
}

func (s *Server) putIdea(w http.ResponseWriter, r *http.Request) (int, any) {
	in, st, body := readBody(r, "idea")
	if in == nil {
		return st, body
	}
	s.mu.Lock()
	rec := s.st.ideas.get(r.PathValue("id"))
	if rec == nil {
		s.mu.Unlock()
		return http.StatusNotFound, errorBody("Idea " + r.PathValue("id") + " not found")
	}
	aerr := s.updateRecord(rec, in, s.apiUser(), s.st.ideaStatuses, false, "idea")
	doc := deepCopy(rec.doc)
	s.mu.Unlock()
	if aerr != nil {
		return aerr.status, aerr.body
	}
	return s.committed(w, r, http.StatusOK, map[string]any{"idea": doc})
}

// findByField lists the records of a kind (idea or feature) whose integration
// field name has the value (GET /api/v1/{ideas,features}/fields/…/value/…). The
// element shape of "records" is not documented (the example list is empty); the
// compact list item of the kind is assumed.
func (s *Server) findByField(kind string) apiHandler {
	keys := ideaListKeys
	if kind == kindFeature {
		keys = featureListKeys
	}
	return func(w http.ResponseWriter, r *http.Request) (int, any) {
		pg, pp, err := pageParams(r.URL.Query())
		if err != nil {
			return badQuery(err)
		}
		name, value := r.PathValue("field_name"), r.PathValue("field_value")
		s.mu.Lock()
		defer s.mu.Unlock()
		var out []map[string]any
		for _, rec := range s.tableOf(kind).list {
			for _, f := range anyList(rec.doc["integration_fields"]) {
				fm := obj(f)
				if fmt.Sprint(fm["name"]) == name && fmt.Sprint(fm["value"]) == value {
					out = append(out, project(rec.doc, keys))
					break
				}
			}
		}
		items, pag := page(out, pg, pp)
		return http.StatusOK, map[string]any{"records": items, "pagination": pag}
	}
}

// postIntegrationFields sets integration fields on an idea or a feature. Body:
// {"integration_field": {"name": "key", "value": "JRA-34"}} or
// {"integration_fields": [{...}, ...]}. The answer is the list of the record's integration
// field ids for that integration (the example answer is a list of id strings).
func (s *Server) postIntegrationFields(kind string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) (int, any) {
		var body map[string]any
		if err := readAny(r, &body); err != nil {
			return http.StatusBadRequest, validationBody("Malformed JSON in request body: " + err.Error())
		}
		var fields []map[string]any
		if f := obj(body["integration_field"]); f != nil {
			fields = append(fields, f)
		}
		for _, x := range anyList(body["integration_fields"]) {
			if f := obj(x); f != nil {
				fields = append(fields, f)
			}
		}
		if len(fields) == 0 {
			return http.StatusBadRequest, validationBody(`Request body must hold "integration_field" or "integration_fields"`)
		}
		integrationID := r.PathValue("integration_id")
		key := r.PathValue(parentParam(kind))
		s.mu.Lock()
		defer s.mu.Unlock()
		rec := s.tableOf(kind).get(key)
		if rec == nil {
			return http.StatusNotFound, errorBody(humanize(kind) + " " + key + " not found")
		}
		for _, f := range fields {
			n, _ := str(f["name"])
			if strings.TrimSpace(n) == "" {
				return http.StatusUnprocessableEntity, validationBody("Validation failed: Name can't be blank")
			}
		}
		if s.st.integrationOf(rec.productID, integrationID) == nil {
			// As Aha! does: fields belong to an integration of the record's
			// workspace (a name like "centercode" is no integration id).
			return http.StatusNotFound, errorBody("Integration " + integrationID + " not found")
		}
		ids := s.setIntegrationFields(rec, integrationID, fields, s.apiUser(), kind)
		return s.committed(w, r, http.StatusOK, ids)
	}
}

func (s *Server) getFeature(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.st.features.get(r.PathValue("id"))
	if rec == nil {
		return http.StatusNotFound, errorBody("Feature " + r.PathValue("id") + " not found")
	}
	return http.StatusOK, map[string]any{"feature": deepCopy(rec.doc)}
}

func (s *Server) postFeature(w http.ResponseWriter, r *http.Request) (int, any) {
	in, st, body := readBody(r, "feature")
	if in == nil {
		return st, body
	}
	s.mu.Lock()
	rec, aerr := s.createFeature(r.PathValue("release_id"), in, s.apiUser())
	var doc any
	if rec != nil {
		doc = deepCopy(rec.doc)
	}
	s.mu.Unlock()
	if aerr != nil {
		return aerr.status, aerr.body
	}
	return s.committed(w, r, http.StatusOK, map[string]any{"feature": doc})
}

func (s *Server) putFeature(w http.ResponseWriter, r *http.Request) (int, any) {
	in, st, body := readBody(r, "feature")
	if in == nil {
		return st, body
	}
	s.mu.Lock()
	rec := s.st.features.get(r.PathValue("id"))
	if rec == nil {
		s.mu.Unlock()
		return http.StatusNotFound, errorBody("Feature " + r.PathValue("id") + " not found")
	}
	aerr := s.updateRecord(rec, in, s.apiUser(), s.st.featureStatuses, true, "feature")
	doc := deepCopy(rec.doc)
	s.mu.Unlock()
	if aerr != nil {
		return aerr.status, aerr.body
	}
	return s.committed(w, r, http.StatusOK, map[string]any{"feature": doc})
}

func (s *Server) listReleaseFeatures(w http.ResponseWriter, r *http.Request) (int, any) {
	pg, pp, err := pageParams(r.URL.Query())
	if err != nil {
		return badQuery(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rel := s.st.releases[strings.ToUpper(r.PathValue("release_id"))]
	if rel == nil {
		return http.StatusNotFound, errorBody("Release " + r.PathValue("release_id") + " not found")
	}
	var out []map[string]any
	for _, rec := range s.st.features.list {
		if rec.releaseID == rel.id {
			out = append(out, project(rec.doc, featureListKeys))
		}
	}
	items, pag := page(out, pg, pp)
	return http.StatusOK, map[string]any{"features": items, "pagination": pag}
}

func parentParam(kind string) string {
	if kind == kindIdea {
		return "idea_id"
	}
	return "feature_id"
}

func (s *Server) listComments(kind string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) (int, any) {
		pg, pp, err := pageParams(r.URL.Query())
		if err != nil {
			return badQuery(err)
		}
		key := r.PathValue(parentParam(kind))
		s.mu.Lock()
		defer s.mu.Unlock()
		parent := s.tableOf(kind).get(key)
		if parent == nil {
			return http.StatusNotFound, errorBody(humanize(kind) + " " + key + " not found")
		}
		var out []map[string]any
		for _, c := range s.st.comments.list {
			if c.parentID == parent.id {
				out = append(out, deepCopy(c.doc).(map[string]any))
			}
		}
		items, pag := page(out, pg, pp)
		return http.StatusOK, map[string]any{"comments": items, "pagination": pag}
	}
}

func (s *Server) postComment(kind string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) (int, any) {
		in, st, body := readBody(r, "comment")
		if in == nil {
			return st, body
		}
		text, _ := str(in["body"])
		s.mu.Lock()
		rec, aerr := s.createComment(kind, r.PathValue(parentParam(kind)), text, s.apiUser())
		var doc any
		if rec != nil {
			doc = deepCopy(rec.doc)
		}
		s.mu.Unlock()
		if aerr != nil {
			return aerr.status, aerr.body
		}
		return s.committed(w, r, http.StatusOK, map[string]any{"comment": doc})
	}
}

func (s *Server) listIdeaUsers(w http.ResponseWriter, r *http.Request) (int, any) {
	q := r.URL.Query()
	pg, pp, since, err := listParams(q)
	if err != nil {
		return badQuery(err)
	}
	email := strings.ToLower(first(q, "email"))
	org := first(q, "idea_organization_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, u := range s.st.ideaUsers.list {
		if email != "" && strings.ToLower(u.email) != email {
			continue
		}
		if org != "" && !contains(u.orgIDs, org) {
			continue
		}
		if !since.IsZero() && u.updated.Before(since) {
			continue
		}
		out = append(out, deepCopy(u.doc).(map[string]any))
	}
	items, pag := page(out, pg, pp)
	return http.StatusOK, map[string]any{"idea_users": items, "pagination": pag}
}

func contains(l []string, v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) getIdeaUser(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.ideaUsers.get(r.PathValue("id"))
	if u == nil || u.id != r.PathValue("id") {
		return http.StatusNotFound, errorBody("Idea user " + r.PathValue("id") + " not found")
	}
	return http.StatusOK, map[string]any{"idea_user": deepCopy(u.doc)}
}

// listIdeaPortals answers GET /api/v1/idea_portals: every portal of the account,
// paged. The OpenAPI file has no GET /api/v1/idea_portals/{id}, so neither has the
// simulator (it answers 404 like any unknown path).
func (s *Server) listIdeaPortals(w http.ResponseWriter, r *http.Request) (int, any) {
	pg, pp, err := pageParams(r.URL.Query())
	if err != nil {
		return badQuery(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, p := range s.portalsLocked() {
		out = append(out, deepCopy(p.doc).(map[string]any))
	}
	items, pag := page(out, pg, pp)
	return http.StatusOK, map[string]any{"idea_portals": items, "pagination": pag}
}

func (s *Server) listPortalUsers(w http.ResponseWriter, r *http.Request) (int, any) {
	q := r.URL.Query()
	pg, pp, err := pageParams(q)
	if err != nil {
		return badQuery(err)
	}
	email := strings.ToLower(first(q, "email"))
	portal := r.PathValue("idea_portal_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.portals[portal]; !ok {
		return http.StatusNotFound, errorBody("Idea portal " + portal + " not found")
	}
	var out []map[string]any
	for _, u := range s.st.portalUsers.list {
		if u.portalID != portal || (email != "" && strings.ToLower(u.email) != email) {
			continue
		}
		out = append(out, deepCopy(u.doc).(map[string]any))
	}
	items, pag := page(out, pg, pp)
	return http.StatusOK, map[string]any{"portal_users": items, "pagination": pag}
}

func (s *Server) getPortalUser(w http.ResponseWriter, r *http.Request) (int, any) {
	portal := r.PathValue("idea_portal_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.portals[portal]; !ok {
		return http.StatusNotFound, errorBody("Idea portal " + portal + " not found")
	}
	u := s.st.portalUsers.get(r.PathValue("id"))
	if u == nil || u.portalID != portal {
		return http.StatusNotFound, errorBody("Portal user " + r.PathValue("id") + " not found")
	}
	return http.StatusOK, map[string]any{"portal_user": deepCopy(u.doc)}
}

// listOrganizations answers GET /api/v1/idea_organizations: compact records (the
// OpenAPI example's keys), or, with fields (comma-separated, as the OpenAPI documents
// on GET /api/v1/ideas/{id}?fields=description,plain_text_body), each record's id and
// the requested keys as GET /api/v1/idea_organizations/{id} renders them; unknown
// names are ignored. That the organization list honours fields is assumed, not
// documented: a real Aha! that ignored it would answer compact records.
func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request) (int, any) {
	q := r.URL.Query()
	pg, pp, err := pageParams(q)
	if err != nil {
		return badQuery(err)
	}
	keys := orgListKeys
	if fields := listFields(q); len(fields) > 0 {
		keys = append([]string{"id"}, fields...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, o := range s.st.orgs.list {
		out = append(out, project(o.doc, keys))
	}
	items, pag := page(out, pg, pp)
	return http.StatusOK, map[string]any{"idea_organizations": items, "pagination": pag}
}

// listFields is the fields query parameter: comma-separated names, in one value or
// several; none when absent or empty.
func listFields(q map[string][]string) []string {
	var out []string
	for _, v := range q["fields"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.st.orgs.get(r.PathValue("id"))
	if o == nil {
		return http.StatusNotFound, errorBody("Idea organization " + r.PathValue("id") + " not found")
	}
	return http.StatusOK, map[string]any{"idea_organization": deepCopy(o.doc)}
}

// listAudits answers GET /api/v1/audits: oldest first (so after_id works as a cursor),
// filtered by created_since, created_before, auditable_type (class name or webhook form),
// auditable_id, associated_type/associated_id and after_id, then paged.
func (s *Server) listAudits(w http.ResponseWriter, r *http.Request) (int, any) {
	q := r.URL.Query()
	pg, pp, err := pageParams(q)
	if err != nil {
		return badQuery(err)
	}
	var since, before time.Time
	if v := first(q, "created_since"); v != "" {
		if since, err = parseTime(v); err != nil {
			return badQuery(fmt.Errorf("created_since: %w", err))
		}
	}
	if v := first(q, "created_before"); v != "" {
		if before, err = parseTime(v); err != nil {
			return badQuery(fmt.Errorf("created_before: %w", err))
		}
	}
	typ, aid := first(q, "auditable_type"), first(q, "auditable_id")
	atyp, asid := first(q, "associated_type"), first(q, "associated_id")
	after := first(q, "after_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, a := range s.st.audits {
		if after != "" && !idLess(after, a.id) {
			continue
		}
		if !since.IsZero() && a.created.Before(since) {
			continue
		}
		if !before.IsZero() && !a.created.Before(before) {
			continue
		}
		if typ != "" && !typeMatches(a.kind, typ) {
			continue
		}
		if aid != "" && a.auditableID != aid {
			continue
		}
		if atyp != "" && !typeMatches(a.assocKind, atyp) {
			continue
		}
		if asid != "" && a.assocID != asid {
			continue
		}
		out = append(out, a.rest())
	}
	items, pag := page(out, pg, pp)
	return http.StatusOK, map[string]any{"audits": items, "pagination": pag}
}

func typeMatches(kind, q string) bool {
	t := auditTypes[kind]
	return strings.EqualFold(t[0], q) || strings.EqualFold(t[1], q)
}

func (s *Server) listIntegrations(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, code, body := s.productAt(r, "product_id")
	if p == nil {
		return code, body
	}
	out := []map[string]any{}
	for _, in := range p.integrations {
		out = append(out, s.integrationJSON(p, in))
	}
	return http.StatusOK, map[string]any{"integrations": out}
}

func (s *Server) getIntegration(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, code, body := s.productAt(r, "product_id")
	if p == nil {
		return code, body
	}
	in := s.st.integrationOf(p.id, r.PathValue("integration_id"))
	if in == nil {
		return http.StatusNotFound, errorBody("Integration " + r.PathValue("integration_id") + " not found")
	}
	return http.StatusOK, map[string]any{"integration": s.integrationJSON(p, *in)}
}

func (s *Server) integrationJSON(p *product, in integration) map[string]any {
	return map[string]any{"id": in.id, "name": in.name, "service_name": in.service, "created_at": ahaTime(p.created)}
}
