package people

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/aha"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
)

const testKey = "sim-key"

// countingLimiter counts the Aha! requests (every one passes the limiter).
type countingLimiter struct{ n atomic.Int64 }

func (l *countingLimiter) Wait(ctx context.Context) error { l.n.Add(1); return ctx.Err() }

type peopleFixture struct {
	sim    *ahasim.Server
	lim    *countingLimiter
	people *AhaPeople
}

func newPeopleFixture(t *testing.T, simOpts ahasim.Options) *peopleFixture {
	t.Helper()
	simOpts.APIKey, simOpts.RatePerSecond, simOpts.RatePerMinute = testKey, -1, -1
	s := ahasim.New(simOpts)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = s.Close() })
	f := &peopleFixture{sim: s, lim: &countingLimiter{}}
	c := aha.New(s.URL(), testKey, aha.WithLimiter(f.lim), aha.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	f.people = &AhaPeople{Client: c, Orgs: NewOrgCache(time.Minute)}
	return f
}

// calls runs fn and returns how many Aha! requests it made.
func (f *peopleFixture) calls(fn func()) int {
	before := f.lim.n.Load()
	fn()
	return int(f.lim.n.Load() - before)
}

func (f *peopleFixture) ideaUserID(t *testing.T, email string) string {
	t.Helper()
	for _, id := range f.sim.IdeaUserIDs() {
		if f.sim.IdeaUserEmail(id) == email {
			return id
		}
	}
	t.Fatalf("no idea user %s", email)
	return ""
}

func (f *peopleFixture) expirePortalList() { f.people.PortalCache().ExpireList() }

// A portal user is found through the idea portals listed from Aha! (no portal
// ids configured): the list is read once and kept by the worker, the portal a
// user was found in is tried first next time, and a portal created after the
// list was read is found by reading the list again on a miss. Each reader is
// one activity's (ResolvePeople builds one per call and adds its calls to
// AhaCalls); the limiter counts every request that reached Aha!.
func TestFindPortalUserThroughListedPortals(t *testing.T) {
	f := newPeopleFixture(t, ahasim.Options{})
	ctx := context.Background()
	p1 := f.sim.PortalIDs()[0]
	p2, err := f.sim.CreateIdeaPortal("Partner Ideas", "submit-only")
	require.NoError(t, err)
	milton, err := f.sim.CreatePortalUser(p2, f.ideaUserID(t, "milton@initech.com"), "Milton", "Waddams")
	require.NoError(t, err)
	find := func(id string) (*aha.PortalUser, int, error) {
		r := NewPortalReader(f.people)
		var pu *aha.PortalUser
		var err error
		n := f.calls(func() { pu, err = r.Find(ctx, id) })
		assert.Equal(t, n, r.Calls, "every request counted")
		return pu, n, err
	}

	pu, n, err := find(milton.ID)
	require.NoError(t, err)
	assert.Equal(t, "milton@initech.com", pu.Email)
	assert.Equal(t, f.ideaUserID(t, "milton@initech.com"), pu.IdeaUserID.String())
	assert.Equal(t, 3, n, "the portal list, 404 in the first portal, found in the second")

	_, n, err = find(milton.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the list is cached and the user's portal remembered")

	users, _, err := f.people.ListPortalUsers(ctx, p1, 1, 200, nil)
	require.NoError(t, err)
	pu, n, err = find(users[0].ID.String())
	require.NoError(t, err)
	assert.Equal(t, users[0].Email, pu.Email)
	assert.Equal(t, 1, n, "found in the first portal")

	// A portal created after the list was cached.
	p3, err := f.sim.CreateIdeaPortal("Beta Ideas", "")
	require.NoError(t, err)
	una, err := f.sim.CreatePortalUser(p3, f.ideaUserID(t, "una@independent.example"), "Una", "Affiliated")
	require.NoError(t, err)
	pu, n, err = find(una.ID)
	require.NoError(t, err)
	assert.Equal(t, "una@independent.example", pu.Email)
	assert.Equal(t, 4, n, "404 in both cached portals, the list again, found in the new one only")

	// A portal user no portal has: Aha!'s 404, after one fresh look at the list.
	_, n, err = find("6776881149999999999")
	assert.True(t, aha.IsNotFound(err), "%v", err)
	assert.Equal(t, 4, n, "404 in the 3 cached portals, then the list again (nothing new)")

	// An error other than 404 stops the search with that error.
	f.expirePortalList()
	f.sim.SetRateLimits(1, 0)
	f.sim.ResetRateLimit()
	_, _, err = find("6776881149999999998")
	var ae *aha.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusTooManyRequests, ae.Status)
}

// Snapshots (backfill, organization fan-out) read portal users through the
// worker's index: one listing of each portal (pages, not people), reused
// within its TTL, and the same portal users a person's own fresh read finds,
// so a snapshot never flips a portal-user key. The snapshot is stamped with
// the index's read time when that is its oldest part.
func TestIndexedPortalUsersMatchFreshReads(t *testing.T) {
	f := newPeopleFixture(t, ahasim.Options{})
	ctx := context.Background()
	p2, err := f.sim.CreateIdeaPortal("Partner Ideas", "")
	require.NoError(t, err)
	_, err = f.sim.CreatePortalUser(p2, f.ideaUserID(t, "milton@initech.com"), "Milton", "Waddams")
	require.NoError(t, err)
	_, err = f.sim.CreatePortalUser(p2, f.ideaUserID(t, "john@long.com"), "Johnny", "Long")
	require.NoError(t, err)

	users, _, err := f.people.ListIdeaUsers(ctx, 1, 200, nil)
	require.NoError(t, err)
	require.Len(t, users, 8)
	snapshots := NewPortalReader(f.people)
	n := f.calls(func() {
		for _, u := range users {
			snap, _, err := BuildPerson(ctx, u, NewOrgReader(f.people, true), snapshots.Indexed, time.Now())
			require.NoError(t, err)
			fresh, _, err := BuildPerson(ctx, u, NewOrgReader(f.people, true), NewPortalReader(f.people).ByEmail, time.Now())
			require.NoError(t, err)
			var s, fr map[string]any
			require.NoError(t, json.Unmarshal(snap, &s))
			require.NoError(t, json.Unmarshal(fresh, &fr))
			assert.Equal(t, fr["portal_users"], s["portal_users"], u.Email)
			assert.NotNil(t, s["portal_users"], u.Email)
		}
	})
	// The index: the portal list and one page per portal; the fresh reads:
	// one request per portal and person; the organizations: 4, cached.
	assert.Equal(t, 1+2, snapshots.Calls)
	assert.Equal(t, 1+2+8*2+4, n)

	// Within the TTL the index is reused; its read time bounds the snapshot.
	r := NewPortalReader(f.people)
	c := f.people.PortalCache()
	c.mu.Lock()
	c.indexAt = c.indexAt.Add(-time.Minute)
	indexAt := c.indexAt
	c.mu.Unlock()
	john := users[0]
	require.Equal(t, "john@long.com", john.Email)
	snap, at, err := BuildPerson(ctx, john, NewOrgReader(f.people, true), r.Indexed, time.Now())
	require.NoError(t, err)
	assert.Equal(t, 0, r.Calls)
	assert.True(t, at.Equal(indexAt), "stamped with the index's read time")
	var doc map[string]any
	require.NoError(t, json.Unmarshal(snap, &doc))
	require.Len(t, doc["portal_users"], 2)
	assert.Equal(t, "Johnny", doc["portal_users"].([]any)[1].(map[string]any)["first_name"])

	// Past the TTL it is rebuilt (the portal list is still cached).
	c.mu.Lock()
	c.indexAt = time.Now().Add(-PortalUserIndexTTL - time.Second)
	c.mu.Unlock()
	r = NewPortalReader(f.people)
	_, _, err = r.Indexed(ctx, "john@long.com")
	require.NoError(t, err)
	assert.Equal(t, 2, r.Calls, "one page per portal")
}
