package activities

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/internal/people"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
	"github.com/ahacc/ahacc/mapping"
)

// countingLimiter counts the Aha! requests (every one passes the limiter).
type countingLimiter struct{ n atomic.Int64 }

func (l *countingLimiter) Wait(ctx context.Context) error { l.n.Add(1); return ctx.Err() }

type peopleFixture struct {
	sim    *ahasim.Server
	lim    *countingLimiter
	people *people.AhaPeople
	acts   *Activities
	env    *testsuite.TestActivityEnvironment
}

func newPeopleFixture(t *testing.T, simOpts ahasim.Options) *peopleFixture {
	t.Helper()
	simOpts.APIKey, simOpts.RatePerSecond, simOpts.RatePerMinute = mcAhaKey, -1, -1
	s := ahasim.New(simOpts)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = s.Close() })
	f := &peopleFixture{sim: s, lim: &countingLimiter{}}
	c := aha.New(s.URL(), mcAhaKey, aha.WithLimiter(f.lim), aha.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	f.people = &people.AhaPeople{Client: c, Orgs: people.NewOrgCache(time.Minute)}
	f.acts = New(Deps{Configs: NewConfigStore(mcConfig(t, nil)), People: f.people, Centercode: centercode.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var ts testsuite.WorkflowTestSuite
	f.env = ts.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.acts)
	return f
}

// calls runs fn and returns how many Aha! requests it made.
func (f *peopleFixture) calls(fn func()) int {
	before := f.lim.n.Load()
	fn()
	return int(f.lim.n.Load() - before)
}

func (f *peopleFixture) hydrate(t *testing.T, email string) (PersonRecord, map[string]any) {
	t.Helper()
	v, err := f.env.ExecuteActivity(f.acts.HydratePerson, HydratePersonRequest{Email: email})
	require.NoError(t, err)
	var pr PersonRecord
	require.NoError(t, v.Get(&pr))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(pr.JSON, &doc))
	return pr, doc
}

// ResolvePeople counts the portal search in AhaCalls; a portal user no portal
// has is gone (and, with no previous email, nobody is signalled).
func TestResolvePortalUserGone(t *testing.T) {
	for name, opts := range map[string]ahasim.Options{"seeded": {}, "no portals": {NoSeed: true}} {
		t.Run(name, func(t *testing.T) {
			f := newPeopleFixture(t, opts)
			var res ResolvePeopleResult
			n := f.calls(func() {
				v, err := f.env.ExecuteActivity(f.acts.ResolvePeople, ResolvePeopleRequest{Kind: mapping.KindPortalUser, AhaID: "42", Source: "webhook"})
				require.NoError(t, err)
				require.NoError(t, v.Get(&res))
			})
			assert.True(t, res.Gone)
			assert.Empty(t, res.Emails)
			// The list, then 404 in the one seeded portal (and the list is
			// not read twice in one activity); no portals: the list only.
			want := map[string]int{"seeded": 2, "no portals": 1}[name]
			assert.Equal(t, want, n)
			assert.Equal(t, n, res.AhaCalls)
		})
	}
}

// The hydrated person carries their portal users (same email, every portal,
// in Aha!'s portal order), so the example config's portal-only keys get the
// portal user's values; a person without one gets [] and empty keys.
func TestHydratePersonCarriesPortalUsers(t *testing.T) {
	f := newPeopleFixture(t, ahasim.Options{})
	p1 := f.sim.PortalIDs()[0]

	var pr PersonRecord
	var doc map[string]any
	n := f.calls(func() { pr, doc = f.hydrate(t, "john@long.com") })
	require.True(t, pr.Found)
	// The idea user, Acme, the portal list, one portal's users by email.
	assert.Equal(t, 4, n)
	pus := doc["portal_users"].([]any)
	require.Len(t, pus, 1)
	pu := pus[0].(map[string]any)
	assert.Equal(t, "John", pu["first_name"])
	assert.Equal(t, "Long", pu["last_name"])
	assert.Equal(t, p1, pu["idea_portal_id"])
	assert.Equal(t, pr.IdeaUserID, pu["idea_user_id"])
	assert.Equal(t, "Acme", doc["idea_organizations"].([]any)[0].(map[string]any)["name"])

	body := f.mapUserData(t, pr)
	assert.Equal(t, "John", body["aha_first_name"])
	assert.Equal(t, "Long", body["aha_last_name"])
	assert.Equal(t, "John Long", body["aha_name"])
	assert.Equal(t, "false", body["aha_employee"])

	// A second portal: both portal users, in portal order; the list is cached.
	p2, err := f.sim.CreateIdeaPortal("Partner Ideas", "")
	require.NoError(t, err)
	_, err = f.sim.CreatePortalUser(p2, pr.IdeaUserID, "Johnny", "L")
	require.NoError(t, err)
	n = f.calls(func() { pr, doc = f.hydrate(t, "john@long.com") })
	assert.Equal(t, 3, n, "the idea user, Acme, the one cached portal")
	assert.Len(t, doc["portal_users"], 1, "the new portal is not in the cached list yet")
	f.expirePortalList()
	n = f.calls(func() { pr, doc = f.hydrate(t, "john@long.com") })
	assert.Equal(t, 5, n, "the idea user, Acme, the portal list, two portals")
	pus = doc["portal_users"].([]any)
	require.Len(t, pus, 2)
	assert.Equal(t, []any{p1, p2}, []any{pus[0].(map[string]any)["idea_portal_id"], pus[1].(map[string]any)["idea_portal_id"]})
	assert.Equal(t, "John", f.mapUserData(t, pr)["aha_first_name"], "the first portal's user")

	// Without a portal user: an empty list, the keys cleared.
	pr, doc = f.hydrate(t, "milton@initech.com")
	require.True(t, pr.Found)
	assert.Equal(t, []any{}, doc["portal_users"])
	body = f.mapUserData(t, pr)
	assert.Equal(t, "", body["aha_first_name"])
	assert.Equal(t, "", body["aha_employee"])

	// A config whose user data is not fed by portal users reads none.
	cfg := mcConfig(t, nil)
	cfg.UserData.RecordTypes = []string{mapping.KindIdeaUser}
	f.acts.Configs.Store(cfg)
	n = f.calls(func() { pr, doc = f.hydrate(t, "john@long.com") })
	assert.Equal(t, 2, n, "the idea user and Acme")
	assert.NotContains(t, doc, "portal_users")
}

func (f *peopleFixture) expirePortalList() { f.people.PortalCache().ExpireList() }

func (f *peopleFixture) mapUserData(t *testing.T, pr PersonRecord) map[string]any {
	t.Helper()
	v, err := f.env.ExecuteActivity(f.acts.MapUserData, MapUserDataRequest{Email: pr.Email, Record: pr.JSON})
	require.NoError(t, err)
	var ub UserDataBody
	require.NoError(t, v.Get(&ub))
	var body map[string]any
	require.NoError(t, json.Unmarshal(ub.Body, &body))
	return body
}

// Every key of the example config's user_data section reads a path the
// hydrated person record has for someone among the simulator's people — the
// portal-only keys included — except job_title, which reads an idea-user
// custom field the simulator's account does not define (Aha! people records
// have no title).
func TestExampleUserDataKeysReachTheRecord(t *testing.T) {
	f := newPeopleFixture(t, ahasim.Options{})
	set := map[string]bool{}
	for _, id := range f.sim.IdeaUserIDs() {
		pr, _ := f.hydrate(t, f.sim.IdeaUserEmail(id))
		require.True(t, pr.Found)
		for k, v := range f.mapUserData(t, pr) {
			if v != "" {
				set[k] = true
			}
		}
	}
	var never []string
	for _, k := range f.acts.config().UserData.Keys() {
		if !set[k] {
			never = append(never, k)
		}
	}
	assert.Equal(t, []string{"job_title"}, never)
}

// HydrateAndMapPerson hands back the listener body and its hash — what
// MapUserData makes of HydratePerson's record — and not the record (what the
// person's workflow keeps in history).
func TestHydrateAndMapPersonKeepsNoRecord(t *testing.T) {
	f := newPeopleFixture(t, ahasim.Options{})
	pr, _ := f.hydrate(t, "john@long.com")
	v, err := f.env.ExecuteActivity(f.acts.MapUserData, MapUserDataRequest{Email: "john@long.com", Record: pr.JSON})
	require.NoError(t, err)
	var want UserDataBody
	require.NoError(t, v.Get(&want))

	v, err = f.env.ExecuteActivity(f.acts.HydrateAndMapPerson, HydratePersonRequest{Email: "john@long.com"})
	require.NoError(t, err)
	var got PersonRecord
	require.NoError(t, v.Get(&got))
	assert.Empty(t, got.JSON)
	require.NotNil(t, got.Mapped)
	assert.Equal(t, want.Hash, got.Mapped.Hash)
	assert.Equal(t, pr.IdeaUserID, got.IdeaUserID)
	assert.True(t, got.Found)
}
