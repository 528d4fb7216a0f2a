package people

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/contract"
)

// Portal users live under an idea portal, and neither a portal-user audit nor
// an idea user names the portal. The activities therefore list the account's
// idea portals (GET /api/v1/idea_portals) and look in each. Every read below
// passes the Aha! client's limiter (the shared budget), so the list is kept:
// per activity, and per worker in a PortalCache for PortalListTTL.

// listPerPage is the page size of people lists: Aha!'s largest.
const listPerPage = 200

const (
	// PortalListTTL is how long a worker reuses the idea portal list. A
	// portal user looked up by id and found in no listed portal makes the
	// list be read again at once, so a portal created since is not missed.
	PortalListTTL = 5 * time.Minute
	// PortalUserIndexTTL bounds how old the portal users in a backfill or
	// fan-out snapshot may be; a person's own sync always reads afresh.
	PortalUserIndexTTL = 2 * time.Minute
	// maxPortalHints bounds the remembered portal of each portal user found.
	maxPortalHints = 10000
)

// PortalCache keeps, for one worker, the idea portal list, the portal each
// portal user was last found in, and an index of every portal user by email
// (built by listing every portal, for backfill and fan-out snapshots). The
// zero value is ready to use.
type PortalCache struct {
	mu      sync.Mutex
	list    []aha.IdeaPortal
	listAt  time.Time
	hints   map[string]string // portal user id → idea portal id
	index   map[string][]PortalUser
	indexAt time.Time
	build   chan struct{} // held while the index is built (one build at a time)
}

// PortalUser is a portal user with the idea portal it belongs to.
type PortalUser struct {
	portalID string
	user     aha.PortalUser
}

// ExpireList forgets the idea portal list: the next read lists the portals again.
func (c *PortalCache) ExpireList() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listAt = time.Time{}
}

func (c *PortalCache) getList(now time.Time) ([]aha.IdeaPortal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listAt.IsZero() || now.Sub(c.listAt) > PortalListTTL {
		return nil, false
	}
	return c.list, true
}

func (c *PortalCache) putList(l []aha.IdeaPortal, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.listAt) {
		c.list, c.listAt = l, at
	}
}

func (c *PortalCache) hint(userID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hints[userID]
}

func (c *PortalCache) putHint(userID, portalID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hints == nil || len(c.hints) >= maxPortalHints {
		c.hints = map[string]string{}
	}
	c.hints[userID] = portalID
}

func (c *PortalCache) getIndex(now time.Time) (map[string][]PortalUser, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index == nil || now.Sub(c.indexAt) > PortalUserIndexTTL {
		return nil, time.Time{}, false
	}
	return c.index, c.indexAt, true
}

func (c *PortalCache) putIndex(ix map[string][]PortalUser, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.indexAt) {
		c.index, c.indexAt = ix, at
	}
}

// lockBuild waits for the right to build the index (or for ctx to end).
func (c *PortalCache) lockBuild(ctx context.Context) error {
	c.mu.Lock()
	if c.build == nil {
		c.build = make(chan struct{}, 1)
	}
	ch := c.build
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *PortalCache) unlockBuild() { <-c.build }

// PortalReader reads idea portals and portal users for one activity, through
// the worker's PortalCache when the API has one. It counts Aha! calls.
type PortalReader struct {
	p      API
	cache  *PortalCache
	list   []aha.IdeaPortal
	have   bool // list holds this activity's portal list
	listed bool // list was read from Aha! in this activity
	Calls  int
}

func NewPortalReader(p API) *PortalReader {
	r := &PortalReader{p: p, cache: p.PortalCache()}
	if r.cache == nil {
		r.cache = &PortalCache{} // this activity only
	}
	return r
}

// portals returns the idea portals: the list this activity already has, the
// worker's while younger than PortalListTTL, else read from Aha!.
func (r *PortalReader) portals(ctx context.Context) ([]aha.IdeaPortal, error) {
	if r.have {
		return r.list, nil
	}
	if l, ok := r.cache.getList(time.Now()); ok {
		r.list, r.have = l, true
		return l, nil
	}
	return r.relist(ctx)
}

// relist reads the portal list from Aha! and refreshes the worker's cache.
func (r *PortalReader) relist(ctx context.Context) ([]aha.IdeaPortal, error) {
	at := time.Now()
	l, err := r.p.ListIdeaPortals(ctx)
	if err != nil {
		r.Calls++
		return nil, err
	}
	r.Calls += max(1, (len(l)+listPerPage-1)/listPerPage) // one request per 200 portals
	r.list, r.have, r.listed = l, true, true
	r.cache.putList(l, at)
	return l, nil
}

// find finds a portal user by id in any idea portal: first in the portal it
// was last found in, then in each listed portal in turn. When no portal has
// it and the list came from the cache, the list is read afresh once and only
// the portals new in it are tried. Not found is Aha!'s 404 (the last one).
func (r *PortalReader) Find(ctx context.Context, id string) (*aha.PortalUser, error) {
	tried := map[string]bool{}
	var last error
	try := func(portalID string) (*aha.PortalUser, error) {
		tried[portalID] = true
		r.Calls++
		u, err := r.p.GetPortalUser(ctx, portalID, id)
		if err == nil {
			r.cache.putHint(id, portalID)
			return u, nil
		}
		if !aha.IsNotFound(err) {
			return nil, err
		}
		last = err
		return nil, nil
	}
	if h := r.cache.hint(id); h != "" {
		if u, err := try(h); u != nil || err != nil {
			return u, err
		}
	}
	l, err := r.portals(ctx)
	if err != nil {
		return nil, fmt.Errorf("list idea portals: %w", err)
	}
	for round := 0; round < 2; round++ {
		for _, p := range l {
			if tried[p.ID.String()] {
				continue
			}
			if u, err := try(p.ID.String()); u != nil || err != nil {
				return u, err
			}
		}
		if r.listed {
			break
		}
		if l, err = r.relist(ctx); err != nil {
			return nil, fmt.Errorf("list idea portals: %w", err)
		}
	}
	if last == nil {
		// No portal to look in: the account has none, so the user is gone.
		last = &aha.Error{Status: 404, Message: "portal user " + id + " is in no idea portal (the account has none)",
			Method: "GET", Path: "/api/v1/idea_portals/{idea_portal_id}/portal_users/" + url.PathEscape(id)}
	}
	return nil, last
}

// byEmail reads afresh the person's portal users in every idea portal: one
// GET /api/v1/idea_portals/{id}/portal_users?email= per portal (a filter
// Aha!'s API documentation gives). Only users whose email is the person's
// are kept, so an Aha! that ignored the filter would miss people, never mix
// them up. A portal deleted since the list was read is skipped.
func (r *PortalReader) ByEmail(ctx context.Context, email string) ([]PortalUser, time.Time, error) {
	at := time.Now()
	l, err := r.portals(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list idea portals: %w", err)
	}
	var out []PortalUser
	for _, p := range l {
		r.Calls++
		users, _, err := r.p.ListPortalUsers(ctx, p.ID.String(), 1, listPerPage, url.Values{"email": {email}})
		if err != nil {
			if aha.IsNotFound(err) {
				continue
			}
			return nil, time.Time{}, fmt.Errorf("list portal users of idea portal %s: %w", p.ID.String(), err)
		}
		for _, u := range users {
			if contract.NormalizeEmail(u.Email) == email {
				out = append(out, PortalUser{portalID: p.ID.String(), user: u})
			}
		}
	}
	return out, at, nil
}

// indexed returns the person's portal users from the worker's index of every
// portal user by email, built by listing every portal (per_page 200) when the
// index is older than PortalUserIndexTTL: a backfill or fan-out costs pages
// of portal users, not one request per person. The time is when the index
// was read.
func (r *PortalReader) Indexed(ctx context.Context, email string) ([]PortalUser, time.Time, error) {
	if ix, at, ok := r.cache.getIndex(time.Now()); ok {
		return ix[email], at, nil
	}
	if err := r.cache.lockBuild(ctx); err != nil {
		return nil, time.Time{}, err
	}
	defer r.cache.unlockBuild()
	if ix, at, ok := r.cache.getIndex(time.Now()); ok { // built while we waited
		return ix[email], at, nil
	}
	at := time.Now()
	l, err := r.portals(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list idea portals: %w", err)
	}
	ix := map[string][]PortalUser{}
	for _, p := range l {
	pages:
		for page := 1; ; page++ {
			if err := ctx.Err(); err != nil {
				return nil, time.Time{}, err
			}
			r.Calls++
			users, pag, err := r.p.ListPortalUsers(ctx, p.ID.String(), page, listPerPage, nil)
			switch {
			case aha.IsNotFound(err):
				break pages // deleted since the list was read
			case err != nil:
				return nil, time.Time{}, fmt.Errorf("list portal users of idea portal %s (page %d): %w", p.ID.String(), page, err)
			}
			for _, u := range users {
				if e := contract.NormalizeEmail(u.Email); e != "" {
					ix[e] = append(ix[e], PortalUser{portalID: p.ID.String(), user: u})
				}
			}
			if len(users) == 0 || page >= pag.TotalPages {
				break
			}
		}
	}
	r.cache.putIndex(ix, at)
	return ix[email], at, nil
}

// UsersFunc reads a person's portal users for BuildPerson (fresh or
// through the index) and says when they were read.
type UsersFunc func(ctx context.Context, email string) ([]PortalUser, time.Time, error)
