package activities

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
)

// PeopleAPI is what the user-data activities need from Aha!: idea users (by
// page, by email, by organization), organizations and portal users.
type PeopleAPI interface {
	// ListIdeaUsers lists idea users; filters: email, idea_organization_id, updated_since.
	ListIdeaUsers(ctx context.Context, page, perPage int, filters url.Values) ([]aha.IdeaUser, aha.Pagination, error)
	GetIdeaUser(ctx context.Context, id string) (*aha.IdeaUser, error)
	GetIdeaOrganization(ctx context.Context, id string) (*aha.IdeaOrganization, error)
	// FindPortalUser finds a portal user by id in any idea portal.
	FindPortalUser(ctx context.Context, id string) (*aha.PortalUser, error)
}

// PeopleProvider is implemented by an Aha! client adapter that can also read
// people (the worker's AhaReader); the activities find their PeopleAPI through
// the Activities.Aha field this way, so no extra wiring is needed.
type PeopleProvider interface {
	People() PeopleAPI
}

// OrgCacher is implemented by a PeopleAPI that keeps organizations between
// activities, so a backfill reads each organization once, not once per page.
type OrgCacher interface {
	OrgCache() *OrgCache
}

// people returns the PeopleAPI behind a.Aha (unexported: not an activity).
func (a *Activities) people() (PeopleAPI, error) {
	switch p := a.Aha.(type) {
	case PeopleAPI:
		return p, nil
	case PeopleProvider:
		if api := p.People(); api != nil {
			return api, nil
		}
	}
	return nil, errors.New("this worker's Aha! client cannot read people (idea users, organizations)")
}

// AhaPeople adapts the Aha! client to PeopleAPI. Portal users live under an
// idea portal whose id a people audit does not carry, so FindPortalUser tries
// PortalIDs in turn (assumption: the account has few portals; the ids are
// configuration, AHA_IDEA_PORTAL_IDS).
type AhaPeople struct {
	*aha.Client
	PortalIDs []string
	// Orgs caches organizations for backfill and fan-out reads (nil: none).
	Orgs *OrgCache
}

// OrgCache returns the organization cache.
func (p *AhaPeople) OrgCache() *OrgCache { return p.Orgs }

// FindPortalUser finds a portal user by id in any of the configured portals.
func (p *AhaPeople) FindPortalUser(ctx context.Context, id string) (*aha.PortalUser, error) {
	if len(p.PortalIDs) == 0 {
		return nil, errors.New("no idea portal ids configured (AHA_IDEA_PORTAL_IDS): portal users cannot be resolved")
	}
	var last error
	for _, portal := range p.PortalIDs {
		u, err := p.GetPortalUser(ctx, portal, id)
		if err == nil {
			return u, nil
		}
		var ae *aha.Error
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			last = err
			continue
		}
		return nil, err
	}
	return nil, last
}

// OrgCache keeps organizations read recently, with the time they were read.
// Only snapshot builders (backfill, fan-out) read through it; a person's own
// hydration always reads afresh and refreshes it.
type OrgCache struct {
	TTL time.Duration
	mu  sync.Mutex
	m   map[string]cachedOrg
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

// orgReader reads organizations for one activity: each at most once, through
// the cache when allowed. It counts Aha! calls and remembers the oldest read
// it served, which bounds how fresh a snapshot built from it is.
type orgReader struct {
	p      PeopleAPI
	cache  *OrgCache
	cached bool
	seen   map[string]cachedOrg
	calls  int
}

func newOrgReader(p PeopleAPI, useCache bool) *orgReader {
	r := &orgReader{p: p, cached: useCache, seen: map[string]cachedOrg{}}
	if oc, ok := p.(OrgCacher); ok {
		r.cache = oc.OrgCache()
	}
	return r
}

// get returns the organization (nil when Aha! has none) and when it was read.
func (r *orgReader) get(ctx context.Context, id string) (*aha.IdeaOrganization, time.Time, error) {
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
	r.calls++
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

// buildPerson is the person record the user_data mapping sees: the idea user
// as Aha! returns it, with each embedded organization reference replaced by
// the whole organization (revenue, email domains, custom fields). A reference
// to an organization Aha! no longer has is kept as it is.
func buildPerson(ctx context.Context, u aha.IdeaUser, orgs *orgReader, readAt time.Time) ([]byte, time.Time, error) {
	doc := map[string]any{}
	if len(u.Raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(u.Raw))
		dec.UseNumber() // 64-bit ids and numbers stay exact
		if err := dec.Decode(&doc); err != nil {
			return nil, time.Time{}, fmt.Errorf("decode idea user %s: %w", u.ID.String(), err)
		}
	} else {
		doc["id"], doc["name"], doc["email"] = u.ID.String(), u.Name, u.Email
	}
	oldest := readAt
	refs, _ := doc["idea_organizations"].([]any)
	full := make([]any, 0, len(refs))
	for i, ref := range u.IdeaOrganizations {
		o, at, err := orgs.get(ctx, ref.ID.String())
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
		var od map[string]any
		dec := json.NewDecoder(bytes.NewReader(o.Raw))
		dec.UseNumber()
		if err := dec.Decode(&od); err != nil {
			return nil, time.Time{}, fmt.Errorf("decode idea organization %s: %w", ref.ID.String(), err)
		}
		full = append(full, od)
	}
	doc["idea_organizations"] = full
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, time.Time{}, err
	}
	return b, oldest, nil
}
