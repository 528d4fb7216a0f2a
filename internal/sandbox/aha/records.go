package aha

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// apiErr is an error answer: status and body.
type apiErr struct {
	status int
	body   any
}

func (e *apiErr) Error() string { return fmt.Sprintf("aha sim: %d %v", e.status, e.body) }

func notFound(what, id string) *apiErr {
	return &apiErr{http.StatusNotFound, errorBody(fmt.Sprintf("%s %s not found", what, id))}
}

func invalid(msg string) *apiErr {
	return &apiErr{http.StatusUnprocessableEntity, validationBody("Validation failed: " + msg)}
}

// RecordInfo identifies a record the Go methods created or changed.
type RecordInfo struct {
	ID           string `json:"id"`
	ReferenceNum string `json:"reference_num,omitempty"`
	URL          string `json:"url,omitempty"`
}

func (s *Server) info(r *record) RecordInfo {
	u, _ := r.doc["url"].(string)
	return RecordInfo{ID: r.id, ReferenceNum: r.ref, URL: strings.Replace(u, placeholderBase, s.base, 1)}
}

// apiUser is the Aha! user the API key belongs to: audits of API changes name it.
func (s *Server) apiUser() map[string]any {
	return map[string]any{
		"id": "6776881149400000001", "name": "ahacc Integration", "email": "integration@" + s.opts.Company + ".example",
		"created_at": "2019-01-01T00:00:00.000Z", "updated_at": "2019-01-01T00:00:00.000Z",
	}
}

// userRef is the short user object Aha! embeds (created_by_user, assigned_to_user).
func userRef(id, name, email string) map[string]any {
	return map[string]any{"id": id, "name": name, "email": email,
		"created_at": "2019-01-01T00:00:00.000Z", "updated_at": "2019-01-01T00:00:00.000Z"}
}

// commit stores an audit and queues its webhook (in order). Call with s.mu held.
func (s *Server) commit(a *audit) {
	a.id = s.st.nextID()
	if a.created.IsZero() {
		a.created = s.st.now()
	}
	if a.assocKind == "" {
		a.assocKind, a.assocID = a.kind, a.auditableID
	}
	a.url = strings.Replace(a.url, placeholderBase, s.base, 1)
	s.st.audits = append(s.st.audits, a)
	s.hooks.enqueue(a)
}

func (s *Server) auditRecord(action string, r *record, changes []change, actor map[string]any, what string) {
	name, _ := r.doc["name"].(string)
	if name == "" {
		name = r.email
	}
	label := strings.TrimSpace(r.ref + " " + name)
	verb := map[string]string{"create": "created", "update": "updated", "destroy": "deleted"}[action]
	u, _ := r.doc["url"].(string)
	if u == "" && r.kind == kindPortalUser {
		u = placeholderBase + "/ideas/portal_users/" + r.id
	}
	if r.kind == kindComment {
		u, _ = obj(r.doc["commentable"])["url"].(string)
	}
	a := &audit{action: action, user: actor, kind: r.kind, auditableID: r.id,
		description: fmt.Sprintf("%s %s %s", verb, what, label), url: u, changes: changes, created: r.updated}
	if r.kind == kindComment {
		a.assocKind, a.assocID = r.parentKind, r.parentID
	}
	s.commit(a)
}

// ---- value helpers ----

func str(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case map[string]any: // {"name": "..."} or {"email": "..."}
		if n, ok := t["name"].(string); ok {
			return n, true
		}
		if n, ok := t["email"].(string); ok {
			return n, true
		}
	}
	return "", false
}

func intVal(v any) (int, bool) {
	switch t := v.(type) {
	case json.Number:
		n, err := strconv.Atoi(t.String())
		return n, err == nil
	case float64:
		return int(t), t == float64(int(t))
	case int:
		return t, true
	case string:
		n, err := strconv.Atoi(t)
		return n, err == nil
	}
	return 0, false
}

// list accepts "a, b" or ["a", "b"].
func list(v any) []string {
	var out []string
	switch t := v.(type) {
	case string:
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []any:
		for _, x := range t {
			if s, ok := str(x); ok && strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
	}
	return out
}

func transition(from, to string) string {
	if from == "" {
		return html.EscapeString(to)
	}
	return html.EscapeString(from) + " &rarr; " + html.EscapeString(to)
}

func textChange(from, to string) string {
	if from == "" {
		return `<span class="inserted">` + to + `</span>`
	}
	return `<span class="deleted">` + from + `</span><span class="inserted">` + to + `</span>`
}

var tagColors = []string{"#e05298", "#a952e0", "#bae052", "#9ae052", "#e09052", "#7552e0", "#52c7e0"}

func (s *Server) setTags(doc map[string]any, tags []string, numericIDs bool) {
	t := make([]any, 0, len(tags))
	full := make([]any, 0, len(tags))
	sorted := append([]string(nil), tags...)
	sort.Strings(sorted)
	for i, name := range sorted {
		var id any = s.st.nextID()
		if numericIDs { // features carry numeric tag ids (aha.md: full_tags[].id)
			id = s.st.smallID()
		}
		full = append(full, map[string]any{"id": id, "name": name, "color": tagColors[i%len(tagColors)]})
	}
	for _, name := range tags {
		t = append(t, name)
	}
	doc["tags"] = t
	doc["full_tags"] = full
}

func tagsOf(doc map[string]any) []string {
	var out []string
	for _, x := range anyList(doc["tags"]) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func anyList(v any) []any { l, _ := v.([]any); return l }

// setCustomFields merges {key: value} into doc["custom_fields"] and returns the changes.
func (s *Server) setCustomFields(doc map[string]any, in map[string]any, now time.Time) []change {
	var changes []change
	fields := anyList(doc["custom_fields"])
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := in[k]
		typ := "string"
		switch v.(type) {
		case json.Number:
			typ = "number"
		case []any:
			typ = "array"
		case bool:
			typ = "boolean"
		}
		var cur map[string]any
		for _, f := range fields {
			if fm := obj(f); fm != nil && fm["key"] == k {
				cur = fm
			}
		}
		old := ""
		if cur == nil {
			cur = map[string]any{"id": s.st.smallID(), "key": k, "name": humanize(k), "type": typ}
			fields = append(fields, cur)
		} else {
			old = fmt.Sprint(cur["value"])
		}
		cur["value"] = v
		cur["updatedAt"] = now.UTC().Format(time.RFC3339)
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.Atoi(n.String()); err == nil {
				changes = append(changes, change{humanize(k), i}) // integer change values exist (aha.md)
				continue
			}
		}
		changes = append(changes, change{humanize(k), textChange(html.EscapeString(old), html.EscapeString(fmt.Sprint(v)))})
	}
	doc["custom_fields"] = fields
	return changes
}

func humanize(k string) string {
	k = strings.ReplaceAll(k, "_", " ")
	if k == "" {
		return k
	}
	return strings.ToUpper(k[:1]) + k[1:]
}

func (s *Server) noteDoc(body string, now time.Time) map[string]any {
	return map[string]any{"id": s.st.nextID(), "body": body, "editor_version": json.Number("2"),
		"created_at": ahaTime(now), "updated_at": ahaTime(now), "attachments": []any{}}
}

// ---- ideas ----

// Idea JSON keys the simulator understands in create/update bodies (others are ignored,
// like Aha! ignores unknown attributes): name, description, workflow_status, tags,
// categories, visibility, custom_fields, initial_votes, created_by (email), skip_portal,
// assigned_to_user (email or {email}).

func (s *Server) productJSON(p *product) map[string]any {
	return map[string]any{"id": p.id, "reference_prefix": p.prefix, "name": p.name, "product_line": false,
		"created_at": ahaTime(p.created), "workspace_type": "product_workspace", "url": placeholderBase + "/projects/" + p.prefix}
}

func (s *Server) createIdea(productKey string, in map[string]any, actor map[string]any) (*record, *apiErr) {
	p := s.st.productByKey[strings.ToUpper(productKey)]
	if p == nil {
		return nil, notFound("Product", productKey)
	}
	name, _ := str(in["name"])
	if strings.TrimSpace(name) == "" {
		return nil, invalid("Name can't be blank")
	}
	now := s.st.now()
	ws := s.st.ideaStatuses[0]
	if v, ok := in["workflow_status"]; ok {
		n, _ := str(v)
		st, found := s.st.findStatus(s.st.ideaStatuses, n)
		if !found {
			return nil, invalid(fmt.Sprintf("Workflow status %q is not valid for ideas", n))
		}
		ws = st
	}
	p.ideaSeq++
	ref := fmt.Sprintf("%s-I-%d", p.prefix, p.ideaSeq)
	id := s.st.nextID()
	doc := fixture(kindIdea)
	desc, _ := str(in["description"])
	votes := 0
	if v, ok := intVal(in["initial_votes"]); ok {
		votes = v
	}
	doc["id"], doc["name"], doc["reference_num"] = id, name, ref
	doc["product_id"], doc["product"] = p.id, s.productJSON(p)
	doc["created_at"], doc["updated_at"], doc["status_changed_at"] = ahaTime(now), ahaTime(now), ahaTime(now)
	doc["workflow_status"] = ws.json()
	doc["description"] = s.noteDoc(desc, now)
	doc["visibility"] = "Visible to all ideas portal users"
	if v, ok := str(in["visibility"]); ok {
		doc["visibility"] = v
	}
	doc["url"] = placeholderBase + "/ideas/ideas/" + ref
	doc["resource"] = placeholderBase + "/api/v1/ideas/" + ref
	doc["votes"], doc["initial_votes"], doc["score"] = votes, votes, 0
	doc["endorsements_count"], doc["comments_count"] = 0, 0
	doc["score_facts"], doc["categories"], doc["custom_fields"], doc["integration_fields"] = []any{}, []any{}, []any{}, []any{}
	doc["admin_response"], doc["duplicate_of"], doc["feature"], doc["assigned_to_user"] = nil, nil, nil, nil
	doc["workflow_status_times"] = []any{map[string]any{"status_id": ws.id, "status_name": ws.name, "started_at": ahaTime(now), "ended_at": nil}}
	doc["submitted_idea_portal_record_url"] = nil
	doc["created_by_user"] = actor
	if actor == nil {
		doc["created_by_user"] = nil
	}
	doc["created_by_idea_user"], doc["created_by_portal_user"] = nil, nil
	if email, ok := str(in["created_by"]); ok && email != "" {
		u := s.st.ideaUsers.get(strings.ToLower(email))
		if u == nil {
			u = s.createIdeaUserLocked(map[string]any{"email": email, "name": strings.Split(email, "@")[0]}, actor)
		}
		doc["created_by_idea_user"] = map[string]any{"id": u.id, "name": u.doc["name"], "email": u.email, "created_at": u.doc["created_at"], "title": nil}
		for _, pu := range s.st.portalUsers.list {
			if pu.ideaUserID == u.id {
				doc["created_by_portal_user"] = map[string]any{"id": pu.id, "name": u.doc["name"], "email": u.email, "created_at": pu.doc["created_at"]}
				doc["submitted_idea_portal_record_url"] = "https://" + s.opts.Company + ".ideas.aha.io/ideas/" + ref
				break
			}
		}
	}
	if t := list(in["tags"]); in["tags"] != nil {
		s.setTags(doc, t, false)
	} else {
		s.setTags(doc, nil, false)
	}
	if c := list(in["categories"]); len(c) > 0 {
		cats := []any{}
		for _, n := range c {
			cats = append(cats, map[string]any{"id": s.st.nextID(), "name": n, "parent_id": nil, "project_id": json.Number(p.id), "created_at": ahaTime(now)})
		}
		doc["categories"] = cats
	}
	if cf, ok := in["custom_fields"].(map[string]any); ok {
		if k := s.undefinedCustomField(kindIdea, cf); k != "" {
			return nil, invalid(fmt.Sprintf("Custom field %q is not defined for ideas", k))
		}
		s.setCustomFields(doc, cf, now)
	}
	if a, ok := str(in["assigned_to_user"]); ok && a != "" {
		doc["assigned_to_user"] = map[string]any{"id": s.st.nextID(), "name": strings.Split(a, "@")[0], "email": a,
			"created_at": ahaTime(now), "updated_at": ahaTime(now), "default_assignee": false}
	}
	r := &record{kind: kindIdea, id: id, ref: ref, created: now, updated: now, doc: doc, productID: p.id}
	s.st.ideas.add(r)
	changes := []change{{"Name", html.EscapeString(name)}, {"Workflow status", html.EscapeString(ws.name)}}
	if desc != "" {
		changes = append(changes, change{"Description", textChange("", desc)})
	}
	if votes != 0 {
		changes = append(changes, change{"Initial votes", votes})
	}
	s.auditRecord("create", r, changes, actor, "idea")
	return r, nil
}

// updateCommon applies the fields ideas and features share and returns the changes
// (description changes come back separately: Aha! audits them on the note).
func (s *Server) updateCommon(r *record, in map[string]any, statuses []status, numericTagIDs bool, now time.Time) (changes []change, descChange *change, err *apiErr) {
	doc := r.doc
	if v, ok := in["name"]; ok {
		n, _ := str(v)
		if strings.TrimSpace(n) == "" {
			return nil, nil, invalid("Name can't be blank")
		}
		if old, _ := doc["name"].(string); old != n {
			changes = append(changes, change{"Name", textChange(html.EscapeString(old), html.EscapeString(n))})
			doc["name"] = n
		}
	}
	if v, ok := in["workflow_status"]; ok {
		n, _ := str(v)
		st, found := s.st.findStatus(statuses, n)
		if !found {
			return nil, nil, invalid(fmt.Sprintf("Workflow status %q is not valid", n))
		}
		old, _ := obj(doc["workflow_status"])["name"].(string)
		if old != st.name {
			changes = append(changes, change{"Workflow status", transition(old, st.name)})
			doc["workflow_status"] = st.json()
			if _, ok := doc["status_changed_at"]; ok {
				doc["status_changed_at"] = ahaTime(now)
			}
			if _, ok := doc["status_changed_on"]; ok {
				doc["status_changed_on"] = now.UTC().Format("2006-01-02")
			}
		}
	}
	if v, ok := in["description"]; ok {
		n, _ := str(v)
		d := obj(doc["description"])
		old, _ := d["body"].(string)
		if old != n {
			d["body"], d["updated_at"] = n, ahaTime(now)
			descChange = &change{"Description", textChange(old, n)}
		}
	}
	if v, ok := in["tags"]; ok {
		oldT := strings.Join(tagsOf(doc), ", ")
		s.setTags(doc, list(v), numericTagIDs)
		if newT := strings.Join(tagsOf(doc), ", "); newT != oldT {
			changes = append(changes, change{"Tags", transition(oldT, newT)})
		}
	}
	if v, ok := str(in["visibility"]); ok && doc["visibility"] != v {
		if _, has := doc["visibility"]; has {
			changes = append(changes, change{"Visibility", transition(fmt.Sprint(doc["visibility"]), v)})
			doc["visibility"] = v
		}
	}
	if v, ok := intVal(in["initial_votes"]); ok && in["initial_votes"] != nil {
		if old, _ := intVal(doc["initial_votes"]); old != v {
			votes, _ := intVal(doc["votes"])
			doc["initial_votes"], doc["votes"] = v, votes-old+v
			changes = append(changes, change{"Initial votes", v})
		}
	}
	if a, ok := str(in["assigned_to_user"]); ok {
		old, _ := obj(doc["assigned_to_user"])["email"].(string)
		if old != a {
			doc["assigned_to_user"] = map[string]any{"id": s.st.nextID(), "name": strings.Split(a, "@")[0], "email": a,
				"created_at": ahaTime(now), "updated_at": ahaTime(now), "default_assignee": false}
			changes = append(changes, change{"Assigned to", transition(old, a)})
		}
	}
	if cf, ok := in["custom_fields"].(map[string]any); ok {
		if k := s.undefinedCustomField(r.kind, cf); k != "" {
			return nil, nil, invalid(fmt.Sprintf("Custom field %q is not defined for %ss", k, r.kind))
		}
		changes = append(changes, s.setCustomFields(doc, cf, now)...)
	}
	return changes, descChange, nil
}

func (s *Server) updateRecord(r *record, in map[string]any, actor map[string]any, statuses []status, numericTagIDs bool, what string) *apiErr {
	now := s.st.now()
	changes, desc, err := s.updateCommon(r, in, statuses, numericTagIDs, now)
	if err != nil {
		return err
	}
	if len(changes) == 0 && desc == nil {
		return nil // nothing changed: no audit, like Aha!
	}
	r.updated = now
	r.doc["updated_at"] = ahaTime(now)
	if len(changes) > 0 {
		s.auditRecord("update", r, changes, actor, what)
	}
	if desc != nil {
		// A description edit is audited on its note; the URL points at the owning record.
		u, _ := r.doc["url"].(string)
		name, _ := r.doc["name"].(string)
		d := obj(r.doc["description"])
		s.commit(&audit{action: "update", user: actor, kind: "note", auditableID: fmt.Sprint(d["id"]),
			description: fmt.Sprintf("updated %s %s %s description", what, r.ref, name), url: u,
			changes: []change{*desc}, assocKind: r.kind, assocID: r.id, created: now})
	}
	return nil
}

func (s *Server) destroy(t *table, r *record, actor map[string]any, what string) {
	t.remove(r)
	r.updated = s.st.now()
	s.auditRecord("destroy", r, []change{}, actor, what)
}

// ---- features ----

func (s *Server) releaseJSON(rel *release) map[string]any { return deepCopy(rel.doc).(map[string]any) }

func (s *Server) createFeature(releaseKey string, in map[string]any, actor map[string]any) (*record, *apiErr) {
	rel := s.st.releases[strings.ToUpper(releaseKey)]
	if rel == nil {
		return nil, notFound("Release", releaseKey)
	}
	p := s.st.productByKey[rel.productID]
	name, _ := str(in["name"])
	if strings.TrimSpace(name) == "" {
		return nil, invalid("Name can't be blank")
	}
	now := s.st.now()
	ws := s.st.featureStatuses[0]
	if v, ok := in["workflow_status"]; ok {
		n, _ := str(v)
		st, found := s.st.findStatus(s.st.featureStatuses, n)
		if !found {
			return nil, invalid(fmt.Sprintf("Workflow status %q is not valid for features", n))
		}
		ws = st
	}
	p.featureSeq++
	ref := fmt.Sprintf("%s-%d", p.prefix, p.featureSeq)
	id := s.st.nextID()
	doc := fixture(kindFeature)
	desc, _ := str(in["description"])
	doc["id"], doc["name"], doc["reference_num"] = id, name, ref
	doc["product_id"], doc["project"] = p.id, s.productJSON(p)
	doc["release_reference_num"], doc["release"] = rel.ref, s.releaseJSON(rel)
	doc["created_at"], doc["updated_at"] = ahaTime(now), ahaTime(now)
	doc["workflow_status"] = ws.json()
	doc["status_changed_on"] = nil
	doc["description"] = s.noteDoc(desc, now)
	doc["url"] = placeholderBase + "/features/" + ref
	doc["resource"] = placeholderBase + "/api/v1/features/" + ref
	doc["position"] = p.featureSeq
	doc["score"], doc["comments_count"] = 0, 0
	doc["attachments"], doc["integration_fields"], doc["requirements"], doc["goals"], doc["key_results"] = []any{}, []any{}, []any{}, []any{}, []any{}
	doc["custom_fields"], doc["feature_links"], doc["score_facts"] = []any{}, []any{}, []any{}
	doc["initiative_reference_num"], doc["epic_reference_num"] = nil, nil
	doc["initiative"], doc["epic"], doc["master_feature"], doc["belongs_to_release_phase"] = nil, nil, nil, nil
	doc["start_date"], doc["due_date"], doc["progress"] = nil, nil, nil
	doc["workflow_status_times"] = []any{map[string]any{"status_id": ws.id, "status_name": ws.name, "started_at": ahaTime(now), "ended_at": nil}}
	doc["created_by_user"] = actor
	doc["assigned_to_user"] = nil
	if a, ok := str(in["assigned_to_user"]); ok && a != "" {
		doc["assigned_to_user"] = map[string]any{"id": s.st.nextID(), "name": strings.Split(a, "@")[0], "email": a,
			"created_at": ahaTime(now), "updated_at": ahaTime(now), "default_assignee": false}
	}
	s.setTags(doc, list(in["tags"]), true)
	if cf, ok := in["custom_fields"].(map[string]any); ok {
		if k := s.undefinedCustomField(kindFeature, cf); k != "" {
			return nil, invalid(fmt.Sprintf("Custom field %q is not defined for features", k))
		}
		s.setCustomFields(doc, cf, now)
	}
	r := &record{kind: kindFeature, id: id, ref: ref, created: now, updated: now, doc: doc, productID: p.id, releaseID: rel.id}
	s.st.features.add(r)
	changes := []change{{"Name", html.EscapeString(name)}, {"Workflow status", html.EscapeString(ws.name)}}
	if desc != "" {
		changes = append(changes, change{"Description", textChange("", desc)})
	}
	s.auditRecord("create", r, changes, actor, "feature")
	return r, nil
}

// ---- comments ----

func (s *Server) createComment(parentKind, parentKey, body string, actor map[string]any) (*record, *apiErr) {
	var parent *record
	if parentKind == kindIdea {
		parent = s.st.ideas.get(parentKey)
	} else {
		parent = s.st.features.get(parentKey)
	}
	if parent == nil {
		return nil, notFound(humanize(parentKind), parentKey)
	}
	if strings.TrimSpace(body) == "" {
		return nil, invalid("Body can't be blank")
	}
	now := s.st.now()
	id := s.st.nextID()
	doc := fixture(kindComment)
	author := actor
	if author == nil {
		author = userRef("1020675218", "Mary Humpty", "no-reply@aha.io")
	}
	ctype := "Feature"
	if parentKind == kindIdea {
		ctype = "Ideas::Idea"
	}
	doc["id"], doc["body"] = id, body
	doc["created_at"], doc["updated_at"] = ahaTime(now), ahaTime(now)
	doc["user"] = author
	doc["attachments"] = []any{}
	doc["url"] = placeholderBase + "/comments/" + id
	doc["resource"] = placeholderBase + "/api/v1/comments/" + id
	doc["commentable"] = map[string]any{"type": ctype, "id": parent.id, "product_id": parent.productID,
		"url": parent.doc["url"], "resource": parent.doc["resource"]}
	r := &record{kind: kindComment, id: id, created: now, updated: now, doc: doc, productID: parent.productID,
		parentKind: parentKind, parentID: parent.id}
	s.st.comments.add(r)
	n, _ := intVal(parent.doc["comments_count"])
	parent.doc["comments_count"] = n + 1
	a := &audit{action: "create", user: actor, kind: kindComment, auditableID: id,
		description: fmt.Sprintf("added comment to %s %s", parentKind, parent.ref), url: fmt.Sprint(parent.doc["url"]),
		changes: []change{{"Body", textChange("", body)}}, assocKind: parentKind, assocID: parent.id, created: now}
	s.commit(a)
	return r, nil
}

// ---- people ----

func (s *Server) orgRef(o *record) map[string]any {
	return project(o.doc, []string{"id", "name", "created_at", "url", "resource"})
}

func (s *Server) createIdeaUserLocked(in map[string]any, actor map[string]any) *record {
	now := s.st.now()
	id := s.st.nextID()
	email, _ := str(in["email"])
	name, _ := str(in["name"])
	if name == "" {
		fn, _ := str(in["first_name"])
		ln, _ := str(in["last_name"])
		name = strings.TrimSpace(fn + " " + ln)
	}
	doc := fixture(kindIdeaUser)
	doc["id"], doc["name"], doc["email"] = id, name, email
	doc["created_at"] = ahaTime(now)
	doc["idea_organizations"] = []any{}
	doc["integration_fields"] = []any{}
	if cfs := anyList(doc["custom_fields"]); len(cfs) > 0 {
		cf := obj(cfs[0])
		cf["id"] = s.st.nextID()
		cf["value"] = "Customer since " + now.UTC().Format("2006")
		cf["updatedAt"] = now.UTC().Format(time.RFC3339)
	}
	r := &record{kind: kindIdeaUser, id: id, created: now, updated: now, doc: doc, email: email}
	s.st.ideaUsers.add(r)
	s.st.ideaUsers.byKey[strings.ToLower(email)] = r
	if org, ok := str(in["idea_organization_id"]); ok {
		if o := s.st.orgs.get(org); o != nil {
			s.linkOrg(r, o)
		}
	}
	s.auditRecord("create", r, []change{{"Name", html.EscapeString(name)}, {"Email", html.EscapeString(email)}}, actor, "idea user")
	return r
}

func (s *Server) linkOrg(u, o *record) {
	for _, id := range u.orgIDs {
		if id == o.id {
			return
		}
	}
	u.orgIDs = append(u.orgIDs, o.id)
	u.doc["idea_organizations"] = append(anyList(u.doc["idea_organizations"]), s.orgRef(o))
}

// addPortalLocked adds an idea portal. Its external_url follows the OpenAPI example:
// the portal's ideas.aha.io host, with ideas/new for a submit-only portal. Aha!
// audits for portals are not modelled (no audit is recorded).
func (s *Server) addPortalLocked(id, title, accessType string, created time.Time) *portal {
	host := s.opts.Company
	if n := len(s.st.portals); n > 0 {
		host = fmt.Sprintf("%s-%d", host, n+1)
	}
	ext := "https://" + host + ".ideas.aha.io/"
	if accessType == "submit-only" {
		ext += "ideas/new"
	}
	doc := fixture("idea_portal")
	doc["id"], doc["title"], doc["access_type"] = id, title, accessType
	doc["portal_enabled"], doc["external_url"], doc["created_at"] = true, ext, ahaTime(created)
	p := &portal{id: id, doc: doc}
	s.st.portals[id] = p
	return p
}

// portalsLocked returns the idea portals in Aha!'s list order (ascending id, as in
// the OpenAPI example of GET /api/v1/idea_portals).
func (s *Server) portalsLocked() []*portal {
	out := make([]*portal, 0, len(s.st.portals))
	for _, p := range s.st.portals {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i].id, out[j].id) })
	return out
}

func (s *Server) createOrgLocked(in map[string]any, actor map[string]any) *record {
	now := s.st.now()
	id := s.st.nextID()
	name, _ := str(in["name"])
	doc := fixture(kindOrg)
	doc["id"], doc["name"] = id, name
	doc["created_at"], doc["updated_at"] = ahaTime(now), ahaTime(now)
	doc["url"] = placeholderBase + "/ideas/idea_organizations/" + id
	doc["resource"] = placeholderBase + "/api/v1/idea_organizations/" + id
	doc["description"] = s.noteDoc("", now)
	doc["endorsements_count"] = 0
	doc["email_domains"] = ""
	if v, ok := str(in["email_domains"]); ok {
		doc["email_domains"] = strings.Join(list(v), ", ")
	}
	doc["revenue"] = nil
	if v, ok := str(in["revenue"]); ok && v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			doc["revenue"] = strconv.FormatFloat(f, 'f', 1, 64) // Aha! returns "55000.0"
		}
	}
	for _, f := range anyList(doc["custom_fields"]) {
		obj(f)["id"] = s.st.smallID()
		obj(f)["updatedAt"] = now.UTC().Format(time.RFC3339)
	}
	doc["integration_fields"] = []any{}
	r := &record{kind: kindOrg, id: id, created: now, updated: now, doc: doc}
	s.st.orgs.add(r)
	s.auditRecord("create", r, []change{{"Name", html.EscapeString(name)}}, actor, "idea organization")
	return r
}

func (s *Server) createPortalUserLocked(portalID string, u *record, first, last string, actor map[string]any) *record {
	now := s.st.now()
	id := s.st.nextID()
	doc := fixture(kindPortalUser)
	doc["id"], doc["email"], doc["first_name"], doc["last_name"] = id, u.email, first, last
	doc["idea_user_id"], doc["created_at"] = u.id, ahaTime(now)
	doc["enabled"], doc["verified"], doc["employee"] = true, true, false
	r := &record{kind: kindPortalUser, id: id, created: now, updated: now, doc: doc, email: u.email, portalID: portalID, ideaUserID: u.id}
	s.st.portalUsers.add(r)
	s.auditRecord("create", r, []change{{"Email", html.EscapeString(u.email)}}, actor, "portal user")
	return r
}

// setSimple changes plain string fields on a people record and audits them.
func (s *Server) setSimple(r *record, in map[string]any, fields []string, actor map[string]any, what string) {
	var changes []change
	for _, f := range fields {
		v, ok := in[f]
		if !ok {
			continue
		}
		var nv any = v
		if sv, ok := str(v); ok {
			nv = sv
			if f == "email_domains" {
				nv = strings.Join(list(sv), ", ")
			}
			if f == "revenue" {
				if fl, err := strconv.ParseFloat(sv, 64); err == nil {
					nv = strconv.FormatFloat(fl, 'f', 1, 64)
				}
			}
		}
		old := r.doc[f]
		if fmt.Sprint(old) == fmt.Sprint(nv) {
			continue
		}
		r.doc[f] = nv
		if f == "email" {
			delete(s.tableOf(r.kind).byKey, strings.ToLower(r.email))
			r.email, _ = nv.(string)
			if r.kind == kindIdeaUser {
				s.st.ideaUsers.byKey[strings.ToLower(r.email)] = r
			}
		}
		if b, ok := nv.(bool); ok {
			changes = append(changes, change{humanize(f), transition(fmt.Sprint(old), strconv.FormatBool(b))})
			continue
		}
		os, _ := old.(string)
		changes = append(changes, change{humanize(f), textChange(html.EscapeString(os), html.EscapeString(fmt.Sprint(nv)))})
	}
	if cf, ok := in["custom_fields"].(map[string]any); ok {
		changes = append(changes, s.setCustomFields(r.doc, cf, s.st.now())...)
	}
	if len(changes) == 0 {
		return
	}
	r.updated = s.st.now()
	if _, ok := r.doc["updated_at"]; ok {
		r.doc["updated_at"] = ahaTime(r.updated)
	}
	s.auditRecord("update", r, changes, actor, what)
}

func (s *Server) tableOf(kind string) *table {
	switch kind {
	case kindIdea:
		return s.st.ideas
	case kindFeature:
		return s.st.features
	case kindComment:
		return s.st.comments
	case kindIdeaUser:
		return s.st.ideaUsers
	case kindPortalUser:
		return s.st.portalUsers
	case kindOrg:
		return s.st.orgs
	}
	return nil
}
