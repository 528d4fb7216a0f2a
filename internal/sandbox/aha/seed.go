package aha

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Integrations the simulator's workspaces have (GET
// /api/v1/products/{id}/integrations). The dev stack sets AHA_INTEGRATION_ID
// to CentercodeIntegrationID: the integration whose fields ahacc stamps in
// PRJ1, where the example config's macros create ideas and features.
const (
	JiraIntegrationID           = "6776881149400000200"
	CentercodeIntegrationID     = "6776881149400000300"
	CentercodeIntegrationIDPRJ2 = "6776881149400000301"
)

func jsonNumber(v string) json.Number   { return json.Number(v) }
func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
func (s *Server) rebaseLocked(b []byte) []byte {
	return []byte(strings.NewReplacer(placeholderBase, s.base, "https://company.aha.io", s.base).Replace(string(b)))
}

// Seed data (deterministic ids: the id generator is seeded):
//
//	products  PRJ1 "Project 1" (id 131414752, as in Aha!'s examples), PRJ2 "Mobile App"
//	releases  PRJ1-R-1 "Release 1", PRJ1-R-2 "Release 2", PRJ2-R-1 "Mobile 1.0"
//	idea portal 6776881149400000100 "Customer Ideas" (public)
//	organizations Acme (acme.com), FaceTube (facetube.com), Globex (globex.com, globex.org), Initech (initech.com)
//	idea users  8 (john@long.com, sammy@smith.com, …) linked to organizations; 6 have portal users
//	ideas     PRJ1-I-1 … PRJ1-I-10, PRJ2-I-1 … PRJ2-I-3 (PRJ1-I-3 is a duplicate of PRJ1-I-2 and
//	          promoted to feature PRJ1-1, as in the OpenAPI example)
//	features  PRJ1-1 … PRJ1-5, PRJ2-1, PRJ2-2
//	comments  on PRJ1-I-1, PRJ1-I-2 and PRJ1-1
//
// Every seeded record has its create audit (user null), dated over the last 30 days.
func (s *Server) seed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	now := st.now()
	clock := now.Add(-30 * 24 * time.Hour)
	realNow := st.now
	// Seed records get increasing timestamps over the last 30 days.
	st.now = func() time.Time { clock = clock.Add(47 * time.Minute); return clock }
	defer func() { st.now = realNow }()
	// No webhooks for the seed.
	url, suppress := s.hooks.config()
	s.hooks.set("", suppress)
	defer s.hooks.set(url, suppress)

	st.ideaStatuses = []status{
		{"3259216", "New", "#dce7c6", 1, false},
		{"3259217", "Under consideration", "#c6d8e7", 2, false},
		{"1009437757", "In progress", "#ecdd8f", 3, false},
		{"3259219", "Planned", "#b3d4f5", 4, false},
		{"3259220", "Shipped", "#9ae052", 5, true},
		{"3259221", "Will not implement", "#e6b8b8", 6, true},
	}
	st.featureStatuses = []status{
		{"934242751", "New", "#dce7c6", 1, false},
		{"934242752", "Under consideration", "#c6d8e7", 2, false},
		{"934242753", "Ready to develop", "#ecdd8f", 3, false},
		{"934242754", "In development", "#f5d6a8", 4, false},
		{"934242755", "Ready to ship", "#b3d4f5", 5, false},
		{"934242756", "Shipped", "#9ae052", 6, true},
	}
	addProduct := func(id, prefix, name string) *product {
		p := &product{id: id, prefix: prefix, name: name, created: clock}
		st.products = append(st.products, p)
		st.productByKey[id], st.productByKey[prefix] = p, p
		return p
	}
	p1 := addProduct("131414752", "PRJ1", "Project 1")
	p2 := addProduct("131414753", "PRJ2", "Mobile App")
	for _, d := range DefaultCustomFields {
		st.customFields = append(st.customFields, customFieldDef{id: st.smallID().String(), key: d.Key, name: d.Name, typ: d.Type, fieldable: d.Fieldable})
	}
	p1.integrations = []integration{{JiraIntegrationID, "Jira", "jira"}, {CentercodeIntegrationID, "Centercode", "rest_api"}}
	p2.integrations = []integration{{CentercodeIntegrationIDPRJ2, "Centercode", "rest_api"}}
	relFixture := obj(fixture(kindFeature)["release"])
	addRelease := func(p *product, n int, name string) *release {
		id := st.nextID()
		ref := fmt.Sprintf("%s-R-%d", p.prefix, n)
		doc := deepCopy(relFixture).(map[string]any)
		doc["id"], doc["reference_num"], doc["name"] = id, ref, name
		doc["url"] = placeholderBase + "/releases/" + ref
		doc["resource"] = placeholderBase + "/api/v1/releases/" + ref
		doc["product_id"] = p.id
		rel := &release{id: id, ref: ref, name: name, productID: p.id, doc: doc}
		st.releases[id], st.releases[ref] = rel, rel
		st.releaseList = append(st.releaseList, rel)
		return rel
	}
	addRelease(p1, 1, "Release 1")
	addRelease(p1, 2, "Release 2")
	addRelease(p2, 1, "Mobile 1.0")
	portal := "6776881149400000100"
	s.addPortalLocked(portal, "Customer Ideas", "public", clock)

	orgs := map[string]*record{}
	for _, o := range []struct{ name, domains, revenue string }{
		{"Acme", "acme.com", "55000"}, {"FaceTube", "facetube.com", "120000"},
		{"Globex", "globex.com, globex.org", "980000.5"}, {"Initech", "initech.com", ""},
	} {
		orgs[o.name] = s.createOrgLocked(map[string]any{"name": o.name, "email_domains": o.domains, "revenue": o.revenue}, nil)
	}
	users := map[string]*record{}
	for _, u := range []struct {
		first, last, email, org string
		portal                  bool
	}{
		{"John", "Long", "john@long.com", "Acme", true},
		{"Sammy", "Smith", "sammy@smith.com", "FaceTube", true},
		{"Wile", "Coyote", "wile.coyote@acme.com", "Acme", true},
		{"Hank", "Scorpio", "hank@globex.com", "Globex", true},
		{"Peter", "Gibbons", "peter.gibbons@initech.com", "Initech", true},
		{"Milton", "Waddams", "milton@initech.com", "Initech", false},
		{"Mark", "Zuckerface", "mark@facetube.com", "FaceTube", true},
		{"Una", "Affiliated", "una@independent.example", "", false},
	} {
		r := s.createIdeaUserLocked(map[string]any{"email": u.email, "name": u.first + " " + u.last}, nil)
		if o := orgs[u.org]; o != nil {
			s.linkOrg(r, o)
			if u.org == "Globex" { // a user in two organizations
				s.linkOrg(r, orgs["Acme"])
			}
		}
		if u.portal {
			s.createPortalUserLocked(portal, r, u.first, u.last, nil)
		}
		users[u.email] = r
	}

	// Features first, so ideas can point at the one they were promoted to.
	featureNames := []struct {
		rel, name, status, desc string
		tags                    []string
	}{
		{"PRJ1-R-1", "Language options", "Ready to develop", "<p>Let users pick the UI language.</p>", []string{"Engineering", "Infrastructure"}},
		{"PRJ1-R-1", "Single sign-on with SAML", "In development", "<p>Support SAML 2.0 identity providers.</p>", []string{"Security"}},
		{"PRJ1-R-1", "CSV export of reports", "Shipped", "<p>Export any report as CSV.</p>", nil},
		{"PRJ1-R-2", "Dark mode", "Under consideration", "<p>A dark colour scheme.</p>", []string{"UX"}},
		{"PRJ1-R-2", "Audit log API", "New", "<p>Expose the audit log over the API.</p>", []string{"API"}},
		{"PRJ2-R-1", "Offline mode", "In development", "<p>Work without a connection and sync later.</p>", []string{"mobile", "offline"}},
		{"PRJ2-R-1", "Push notifications", "New", "<p>Notify users about status changes.</p>", []string{"mobile"}},
	}
	feats := map[string]*record{}
	for _, f := range featureNames {
		r, _ := s.createFeature(f.rel, map[string]any{"name": f.name, "workflow_status": f.status, "description": f.desc,
			"assigned_to_user": "john.smith@" + s.opts.Company + ".example", "tags": anySlice(f.tags)}, nil)
		full := fixture(kindFeature)
		// Keep the example's rich parts so seeded features carry every field Aha! returns.
		for _, k := range []string{"initiative_reference_num", "epic_reference_num", "initiative", "epic", "master_feature",
			"belongs_to_release_phase", "requirements", "goals", "key_results", "feature_links", "custom_fields",
			"score_facts", "attachments", "integration_fields", "start_date", "due_date", "progress", "created_by_user"} {
			r.doc[k] = full[k]
		}
		obj(r.doc["description"])["attachments"] = deepCopy(obj(full["description"])["attachments"])
		r.doc["status_changed_on"] = clock.UTC().Format("2006-01-02")
		r.doc["progress"] = 40
		feats[r.ref] = r
	}

	ideaSeeds := []struct {
		product, name, status, desc, by string
		tags                            []string
		votes                           int
	}{
		{"PRJ1", "Bulk edit for records", "New", "<p>Edit many records at once.</p>", "john@long.com", []string{"productivity"}, 4},
		{"PRJ1", "Dark mode", "Under consideration", "<p>Please add a dark theme.</p>", "sammy@smith.com", []string{"UX"}, 12},
		{"PRJ1", "Night theme", "In progress", "<p>Description of idea 3</p>", "john@long.com", []string{"UX"}, 2},
		{"PRJ1", "Export to PDF", "Planned", "<p>Export roadmaps to PDF.</p>", "wile.coyote@acme.com", nil, 7},
		{"PRJ1", "SAML single sign-on", "Shipped", "<p>We need SSO with Okta.</p>", "hank@globex.com", []string{"security"}, 31},
		{"PRJ1", "Keyboard shortcuts", "New", "<p>Power users want shortcuts.</p>", "peter.gibbons@initech.com", nil, 1},
		{"PRJ1", "Custom fields on ideas", "Will not implement", "<p>Free-form fields for ideas.</p>", "milton@initech.com", nil, 0},
		{"PRJ1", "Slack integration", "Under consideration", "<p>Post updates into Slack.</p>", "mark@facetube.com", []string{"integrations"}, 9},
		{"PRJ1", "Comprehensive Feature Request", "New", "<h1>Problem Statement</h1><p>Users need better mobile experience</p>", "sammy@smith.com", []string{"mobile", "offline", "performance", "UX"}, 15},
		{"PRJ1", "Two-factor authentication", "Planned", "<p>TOTP based 2FA.</p>", "una@independent.example", []string{"security"}, 5},
		{"PRJ2", "Offline mode", "In progress", "<p>Use the app on a plane.</p>", "john@long.com", []string{"mobile", "offline"}, 22},
		{"PRJ2", "Widgets", "New", "<p>Home screen widgets.</p>", "sammy@smith.com", nil, 3},
		{"PRJ2", "Face ID login", "Under consideration", "<p>Biometric login.</p>", "hank@globex.com", []string{"security"}, 6},
	}
	ideaFix := fixture(kindIdea)
	ideas := map[string]*record{}
	for _, is := range ideaSeeds {
		r, err := s.createIdea(is.product, map[string]any{"name": is.name, "workflow_status": is.status, "description": is.desc,
			"created_by": is.by, "tags": anySlice(is.tags), "initial_votes": jsonNumber(fmt.Sprint(is.votes))}, nil)
		if err != nil {
			panic(err)
		}
		// Seeded ideas carry the example's rich parts too.
		for _, k := range []string{"categories", "custom_fields", "score_facts", "admin_response", "assigned_to_user"} {
			r.doc[k] = deepCopy(ideaFix[k])
		}
		r.doc["created_by_user"] = deepCopy(ideaFix["created_by_user"])
		r.doc["endorsements_count"] = 2
		if r.doc["submitted_idea_portal_record_url"] == nil {
			r.doc["submitted_idea_portal_record_url"] = "https://" + s.opts.Company + ".ideas.aha.io/ideas/" + r.ref
		}
		if r.doc["created_by_portal_user"] == nil {
			// A user without a portal account submitted through an employee proxy.
			r.doc["created_by_portal_user"] = map[string]any{"id": st.nextID(), "name": "Proxy Submitter", "email": "proxy@" + s.opts.Company + ".example", "created_at": ahaTime(clock)}
		}
		ideas[r.ref] = r
	}
	// PRJ1-I-3 is a duplicate of PRJ1-I-2 and promoted to PRJ1-1 (as in the example).
	dup, orig, feat := ideas["PRJ1-I-3"], ideas["PRJ1-I-2"], feats["PRJ1-1"]
	dup.doc["duplicate_of"] = project(orig.doc, []string{"id", "reference_num", "name", "created_at", "updated_at", "workflow_status", "description", "url", "resource"})
	dup.doc["feature"] = project(feat.doc, []string{"id", "reference_num", "name", "created_at", "url", "resource", "product_id"})
	for _, r := range ideas {
		if r.doc["duplicate_of"] == nil {
			r.doc["duplicate_of"] = deepCopy(dup.doc["duplicate_of"])
		}
		if r.doc["feature"] == nil {
			r.doc["feature"] = deepCopy(dup.doc["feature"])
		}
	}
	s.setIntegrationFields(ideas["PRJ1-I-1"], JiraIntegrationID, []map[string]any{{"name": "key", "value": "CC-1001"}}, nil, kindIdea)

	_, _ = s.createComment(kindIdea, "PRJ1-I-1", "<p>We need this for our quarterly planning.</p>", userRef("1020675218", "Mary Humpty", "no-reply@aha.io"))
	_, _ = s.createComment(kindIdea, "PRJ1-I-2", "<p>+1 from the support team.</p>", userRef("1020675218", "Mary Humpty", "no-reply@aha.io"))
	_, _ = s.createComment(kindFeature, "PRJ1-1", "<p>Design review done.</p>", userRef("16338845", "John Smith", "no-reply@aha.io"))
	for _, c := range st.comments.list {
		c.doc["attachments"] = deepCopy(fixture(kindComment)["attachments"])
	}
	_ = users
}

func anySlice(in []string) []any {
	out := make([]any, 0, len(in))
	for _, s := range in {
		out = append(out, s)
	}
	return out
}
