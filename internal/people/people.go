// Package people reads Aha! people for the user-data activities: idea users
// with their organizations expanded and the portal users of the account's idea
// portals, through a worker's caches (organizations, the portal list and an
// index of portal users) so backfills and fan-outs spare the shared budget.
package people

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/contract"
)

// API is what the user-data activities need from Aha!: idea users (by
// page, by email, by organization), organizations, idea portals and their
// portal users. *aha.Client has every method (AhaPeople embeds it).
type API interface {
	// ListIdeaUsers lists idea users; filters: email, idea_organization_id, updated_since.
	ListIdeaUsers(ctx context.Context, page, perPage int, filters url.Values) ([]aha.IdeaUser, aha.Pagination, error)
	GetIdeaUser(ctx context.Context, id string) (*aha.IdeaUser, error)
	GetIdeaOrganization(ctx context.Context, id string) (*aha.IdeaOrganization, error)
	// ListIdeaPortals lists every idea portal of the account (all pages).
	ListIdeaPortals(ctx context.Context) ([]aha.IdeaPortal, error)
	// GetPortalUser reads one portal user of one idea portal.
	GetPortalUser(ctx context.Context, portalID, id string) (*aha.PortalUser, error)
	// ListPortalUsers lists a page of an idea portal's portal users; filters: email.
	ListPortalUsers(ctx context.Context, portalID string, page, perPage int, filters url.Values) ([]aha.PortalUser, aha.Pagination, error)
	// ListIdeaOrganizationsFields lists organizations with Aha!'s fields
	// parameter: a backfill page primes the OrgCache with it, one call per
	// 200 organizations instead of one each.
	ListIdeaOrganizationsFields(ctx context.Context, page, perPage int, fields []string) ([]aha.IdeaOrganization, aha.Pagination, error)
	// OrgCache keeps organizations between activities (nil: none), so a
	// backfill reads each organization once, not once per page.
	OrgCache() *OrgCache
	// PortalCache keeps the idea portal list and an index of their portal
	// users between activities.
	PortalCache() *PortalCache
}

// AhaPeople adapts the Aha! client to API, with the worker's caches:
// organizations (Orgs) and idea portals (listed from Aha!, see PortalCache).
// Build one per worker and share it: the caches spare the shared rate budget.
type AhaPeople struct {
	*aha.Client
	// Orgs caches organizations for backfill and fan-out reads (nil: none).
	Orgs *OrgCache

	portals PortalCache
}

// OrgCache returns the organization cache.
func (p *AhaPeople) OrgCache() *OrgCache { return p.Orgs }

// PortalCache returns the idea portal cache.
func (p *AhaPeople) PortalCache() *PortalCache { return &p.portals }

// OrgCache keeps organizations read recently, with the time they were read.
// Only snapshot builders (backfill, fan-out) read through it; a person's own
// hydration always reads afresh and refreshes it.
type OrgCache struct {
	TTL time.Duration
	mu  sync.Mutex
	m   map[string]cachedOrg
	// listCompact: the organization list answered without the requested
	// fields (or refused them); backfills read organizations one by one for
	// the rest of the process.
	listCompact bool
}

type cachedOrg struct {
	org *aha.IdeaOrganization // nil: Aha! answered 404
	at  time.Time
}

// NewOrgCache returns a cache whose entries live ttl.
func NewOrgCache(ttl time.Duration) *OrgCache {
	return &OrgCache{TTL: ttl, m: map[string]cachedOrg{}}
}

func (c *OrgCache) get(id string, now time.Time) (cachedOrg, bool) {
	if c == nil {
		return cachedOrg{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || now.Sub(e.at) > c.TTL {
		return cachedOrg{}, false
	}
	return e, true
}

func (c *OrgCache) put(id string, o *aha.IdeaOrganization, at time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 {
		for k, e := range c.m {
			if at.Sub(e.at) > c.TTL {
				delete(c.m, k)
			}
		}
	}
	if e, ok := c.m[id]; ok && e.at.After(at) {
		return
	}
	c.m[id] = cachedOrg{org: o, at: at}
}

// Cached returns the organization cached for id and when it was read, if
// younger than the TTL (org nil: Aha! answered 404).
func (c *OrgCache) Cached(id string, now time.Time) (org *aha.IdeaOrganization, at time.Time, ok bool) {
	e, ok := c.get(id, now)
	return e.org, e.at, ok
}

// Clear forgets every cached organization.
func (c *OrgCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = map[string]cachedOrg{}
}

// listIgnoresFields reports whether the organization list was found to
// ignore fields.
func (c *OrgCache) listIgnoresFields() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listCompact
}

// markListIgnoresFields remembers that the organization list ignores fields;
// it reports whether this call was the first to find out.
func (c *OrgCache) markListIgnoresFields() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := !c.listCompact
	c.listCompact = true
	return first
}

// OrgReader reads organizations for one activity: each at most once, through
// the cache when allowed. It counts Aha! calls and remembers the oldest read
// it served, which bounds how fresh a snapshot built from it is.
type OrgReader struct {
	p      API
	cache  *OrgCache
	cached bool
	seen   map[string]cachedOrg
	Calls  int
}

// UseCache turns reading through the worker's cache on or off (a changed
// organization is read afresh, and refreshes the cache).
func (r *OrgReader) UseCache(on bool) { r.cached = on }

// NewOrgReader reads organizations for one activity, through p's cache when useCache.
func NewOrgReader(p API, useCache bool) *OrgReader {
	return &OrgReader{p: p, cache: p.OrgCache(), cached: useCache, seen: map[string]cachedOrg{}}
}

// get returns the organization (nil when Aha! has none) and when it was read.
func (r *OrgReader) Get(ctx context.Context, id string) (*aha.IdeaOrganization, time.Time, error) {
	if e, ok := r.seen[id]; ok {
		return e.org, e.at, nil
	}
	now := time.Now()
	if r.cached {
		if e, ok := r.cache.get(id, now); ok {
			r.seen[id] = e
			return e.org, e.at, nil
		}
	}
	r.Calls++
	o, err := r.p.GetIdeaOrganization(ctx, id)
	if err != nil {
		var ae *aha.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
			return nil, time.Time{}, err
		}
		o = nil
	}
	r.seen[id] = cachedOrg{org: o, at: now}
	r.cache.put(id, o, now)
	return o, now, nil
}

// orgListPerPage is the organization list's page size when priming (Aha!'s largest).
const orgListPerPage = 200

// prime reads the organizations users refer to that the cache lacks by
// listing organizations with fields (one call per 200) instead of one GET
// each, when at least two are missing and the reader has a cache. It lists
// every page only while total_pages stays within the missing count, so a
// whole listing never takes more calls than the GETs it replaces; a longer
// list costs its first page (whatever it holds is used), then get reads the
// rest one by one. Every listed organization goes into the
// cache stamped with the time before the first list call, so a snapshot's
// oldest-read time stays a bound. ASSUMPTION (aha.ListIdeaOrganizationsFields):
// the organization list honours fields. An answer with a record that is not
// Full — Aha! ignored fields — or a refusal (400, 422) is not used at all:
// the cache remembers it for the process, get reads each organization with a
// GET, and prime returns why the first time (for the caller to log once).
func (r *OrgReader) Prime(ctx context.Context, users []aha.IdeaUser) (fellBack string, err error) {
	if !r.cached || r.cache == nil || r.cache.listIgnoresFields() {
		return "", nil
	}
	once := func(why string) (string, error) {
		if r.cache.markListIgnoresFields() {
			return why, nil
		}
		return "", nil
	}
	now := time.Now()
	missing := map[string]bool{}
	for _, u := range users {
		for _, ref := range u.IdeaOrganizations {
			id := ref.ID.String()
			if _, ok := r.seen[id]; ok || id == "" {
				continue
			}
			if _, ok := r.cache.get(id, now); !ok {
				missing[id] = true
			}
		}
	}
	if len(missing) < 2 {
		return "", nil
	}
	at := time.Now()
	var listed []aha.IdeaOrganization
	for page := 1; page <= len(missing); page++ {
		r.Calls++
		orgs, pag, err := r.p.ListIdeaOrganizationsFields(ctx, page, orgListPerPage, aha.IdeaOrganizationFields)
		if err != nil {
			var ae *aha.Error
			if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnprocessableEntity) {
				return once(fmt.Sprintf("the organization list refused fields (%d)", ae.Status))
			}
			return "", err
		}
		for i := range orgs {
			if !orgs[i].Full() {
				return once("the organization list ignores fields (organization " + orgs[i].ID.String() + " came back compact)")
			}
		}
		listed = append(listed, orgs...)
		if len(orgs) == 0 || page >= pag.TotalPages || pag.TotalPages > len(missing) {
			break
		}
	}
	for i := range listed {
		o := &listed[i]
		id := o.ID.String()
		r.cache.put(id, o, at)
		if missing[id] {
			r.seen[id] = cachedOrg{org: o, at: at}
		}
	}
	return "", nil
}

// BuildPerson is the person record the user_data mapping sees: the idea user
// as Aha! returns it, with each embedded organization reference replaced by
// the whole organization (revenue, email domains, custom fields). A reference
// to an organization Aha! no longer has is kept as it is. With portals (the
// config feeds portal_user records to user data) it also carries
// "portal_users": every portal user with the person's email, as Aha! returns
// them plus "idea_portal_id", in Aha!'s portal order ([] when none); without,
// the record has no portal_users key. It returns the time of its oldest part.
func BuildPerson(ctx context.Context, u aha.IdeaUser, orgs *OrgReader, portals UsersFunc, readAt time.Time) ([]byte, time.Time, error) {
	doc := map[string]any{}
	if len(u.Raw) > 0 {
		var err error
		if doc, err = decodeDoc(u.Raw); err != nil {
			return nil, time.Time{}, fmt.Errorf("decode idea user %s: %w", u.ID.String(), err)
		}
	} else {
		doc["id"], doc["name"], doc["email"] = u.ID.String(), u.Name, u.Email
	}
	oldest := readAt
	refs, _ := doc["idea_organizations"].([]any)
	full := make([]any, 0, len(refs))
	for i, ref := range u.IdeaOrganizations {
		o, at, err := orgs.Get(ctx, ref.ID.String())
		if err != nil {
			return nil, time.Time{}, err
		}
		if at.Before(oldest) {
			oldest = at
		}
		if o == nil || len(o.Raw) == 0 {
			if i < len(refs) {
				full = append(full, refs[i])
			}
			continue
		}
		od, err := decodeDoc(o.Raw)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("decode idea organization %s: %w", ref.ID.String(), err)
		}
		full = append(full, od)
	}
	doc["idea_organizations"] = full
	if portals != nil {
		pus, at, err := portals(ctx, contract.NormalizeEmail(u.Email))
		if err != nil {
			return nil, time.Time{}, err
		}
		if at.Before(oldest) {
			oldest = at
		}
		list := make([]any, 0, len(pus))
		for _, pu := range pus {
			var pd map[string]any
			if len(pu.user.Raw) > 0 {
				if pd, err = decodeDoc(pu.user.Raw); err != nil {
					return nil, time.Time{}, fmt.Errorf("decode portal user %s: %w", pu.user.ID.String(), err)
				}
			} else {
				pd = map[string]any{"id": pu.user.ID.String(), "email": pu.user.Email, "first_name": pu.user.FirstName,
					"last_name": pu.user.LastName, "employee": pu.user.Employee, "idea_user_id": pu.user.IdeaUserID.String()}
			}
			pd["idea_portal_id"] = pu.portalID
			list = append(list, pd)
		}
		doc["portal_users"] = list
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, time.Time{}, err
	}
	return b, oldest, nil
}

// decodeDoc decodes a JSON object keeping numbers exact (64-bit ids).
func decodeDoc(raw []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}
