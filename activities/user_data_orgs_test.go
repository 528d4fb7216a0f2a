package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/contract"
	ahasim "github.com/ahacc/ahacc/internal/sandbox/aha"
	"github.com/ahacc/ahacc/mapping"
)

// signalRecorder is the Temporal client a backfill page signals people with:
// it keeps each person's event instead of starting workflows.
type signalRecorder struct {
	client.Client
	mu  sync.Mutex
	evs map[string]contract.PersonEvent // by email
}

func (r *signalRecorder) SignalWithStartWorkflow(_ context.Context, _ string, _ string, arg any, _ client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs[args[0].(contract.UserDataStart).Email] = arg.(contract.PersonEvent)
	return nil, nil
}

// recorderInterceptor hands activities the signalRecorder as their client.
type recorderInterceptor struct {
	interceptor.WorkerInterceptorBase
	c client.Client
}

func (i *recorderInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	in := &recorderInbound{c: i.c}
	in.Next = next
	return in
}

type recorderInbound struct {
	interceptor.ActivityInboundInterceptorBase
	c client.Client
}

func (i *recorderInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(newRecorderOutbound(outbound, outbound, i.c))
}

// recorderOutbound answers activity.GetClient with the recorder. C is the
// SDK's internal client type, which GetClient returns and no test can name:
// it is inferred from the outbound interceptor's GetClient method.
type recorderOutbound[C any] struct {
	interceptor.ActivityOutboundInterceptorBase
	c C
}

func newRecorderOutbound[C any](next interceptor.ActivityOutboundInterceptor, _ interface{ GetClient(context.Context) C }, c client.Client) *recorderOutbound[C] {
	out := &recorderOutbound[C]{c: any(c).(C)}
	out.Next = next
	return out
}

func (o *recorderOutbound[C]) GetClient(context.Context) C { return o.c }

// backfillFixture runs BackfillUsersPage against the simulator (through
// ahaURL when set, e.g. a proxy) with idea-user records only (no portal
// calls) and no signal pacing; log collects the activities' log lines.
type backfillFixture struct {
	*peopleFixture
	rec *signalRecorder
	log *bytes.Buffer
}

func newBackfillFixture(t *testing.T, sim *ahasim.Server, ahaURL string) *backfillFixture {
	t.Helper()
	f := &backfillFixture{peopleFixture: newPeopleFixture(t, ahasim.Options{NoSeed: true}), rec: &signalRecorder{evs: map[string]contract.PersonEvent{}}, log: &bytes.Buffer{}}
	f.sim = sim
	if ahaURL == "" {
		ahaURL = sim.URL()
	}
	f.people.Client = aha.New(ahaURL, mcAhaKey, aha.WithLimiter(f.lim), aha.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	cfg := mcConfig(t, nil)
	cfg.UserData.RecordTypes = []string{mapping.KindIdeaUser}
	cfg.Centercode.Rate = mapping.Rate{}
	f.acts.Configs.Store(cfg)
	f.acts.Logger = slog.New(slog.NewTextHandler(f.log, nil))
	var ts testsuite.WorkflowTestSuite
	f.env = ts.NewTestActivityEnvironment()
	f.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&recorderInterceptor{c: f.rec}}})
	f.env.RegisterActivity(f.acts)
	return f
}

func newBulkSim(t *testing.T) *ahasim.Server {
	t.Helper()
	s := ahasim.New(ahasim.Options{APIKey: mcAhaKey, NoSeed: true, RatePerSecond: -1, RatePerMinute: -1})
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// page runs one backfill page (per_page 200) and returns its result and the
// Aha! requests it made.
func (f *backfillFixture) page(t *testing.T, page int) (BackfillPageResult, int) {
	t.Helper()
	var res BackfillPageResult
	n := f.calls(func() {
		v, err := f.env.ExecuteActivity(f.acts.BackfillUsersPage, BackfillPageRequest{Page: page, PerPage: 200})
		require.NoError(t, err)
		require.NoError(t, v.Get(&res))
	})
	return res, n
}

// checkOrgs asserts that every signalled snapshot carries each of its
// organizations exactly as GET /api/v1/idea_organizations/{id} has them
// (revenue, email domains, custom fields), and maps like a fresh read.
func (f *backfillFixture) checkOrgs(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	gets := map[string]map[string]any{}
	require.NotEmpty(t, f.rec.evs)
	checked := 0
	for email, ev := range f.rec.evs {
		var doc map[string]any
		require.NoError(t, json.Unmarshal(ev.Snapshot, &doc))
		orgs := doc["idea_organizations"].([]any)
		require.NotEmpty(t, orgs, email)
		for _, o := range orgs {
			om := o.(map[string]any)
			id := om["id"].(string)
			want, ok := gets[id]
			if !ok {
				g, err := f.people.GetIdeaOrganization(ctx, id)
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal(g.Raw, &want))
				gets[id] = want
			}
			require.NotNil(t, want["revenue"])
			for _, k := range []string{"name", "revenue", "email_domains", "custom_fields"} {
				assert.Equal(t, want[k], om[k], "%s: organization %s: %s", email, id, k)
			}
		}
		if checked < 3 { // a few people: the snapshot maps as a fresh read does
			fresh, _ := f.hydrate(t, email)
			assert.Equal(t, f.mapUserData(t, fresh), f.mapUserData(t, PersonRecord{Email: email, JSON: ev.Snapshot}), email)
			assert.NotEmpty(t, f.mapUserData(t, fresh)["company_revenue"])
			checked++
		}
	}
}

// A backfill page whose people refer to N organizations not yet cached reads
// them by listing organizations with fields: 1 call for the users, one per
// 200 organizations of the account. Fewer than two missing, or a list longer
// (in pages) than the organizations missing, reads them one by one.
func TestBackfillPageListsOrganizations(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, s *ahasim.Server)
		wantOrgs int // organizations the page refers to
		want     int // Aha! calls
	}{
		{"10 organizations", func(t *testing.T, s *ahasim.Server) { s.BulkPeople(200, 10) }, 10, 1 + 1},
		{"250 organizations", func(t *testing.T, s *ahasim.Server) {
			users := s.BulkPeople(200, 250)
			orgs := s.OrganizationIDs()
			for i := 0; i < 50; i++ { // users 0-199 are in orgs 0-199; 50 also in 200-249
				require.NoError(t, s.LinkIdeaUserToOrganization(users[i], orgs[200+i]))
			}
		}, 250, 1 + 2},
		{"one organization: one GET", func(t *testing.T, s *ahasim.Server) { s.BulkPeople(200, 1) }, 1, 1 + 1},
		{"2 missing of 3 list pages: page 1, then GETs", func(t *testing.T, s *ahasim.Server) {
			s.BulkPeople(0, 450)
			s.BulkPeople(200, 2)
		}, 2, 1 + 1 + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newBulkSim(t)
			tc.setup(t, s)
			f := newBackfillFixture(t, s, "")
			before := time.Now()
			res, n := f.page(t, 1)
			assert.Equal(t, 200, res.Signalled)
			assert.Equal(t, tc.want, n)
			assert.Equal(t, n, res.AhaCalls, "every call counted")
			refs := map[string]bool{}
			for _, ev := range f.rec.evs {
				var doc struct {
					Orgs []struct {
						ID string `json:"id"`
					} `json:"idea_organizations"`
				}
				require.NoError(t, json.Unmarshal(ev.Snapshot, &doc))
				for _, o := range doc.Orgs {
					refs[o.ID] = true
				}
				assert.False(t, ev.FetchedAt.Before(before))
			}
			assert.Len(t, refs, tc.wantOrgs)
			assert.Empty(t, f.log.String(), "no warning")
			f.checkOrgs(t)
		})
	}
}

// The listed organizations are cached with the time before the list call
// (so a snapshot's read time never postdates a part of it); the next page
// finds them there (no call) and its snapshots carry that time, their oldest
// part.
func TestBackfillListedOrganizationsKeepTheirReadTime(t *testing.T) {
	s := newBulkSim(t)
	s.BulkPeople(400, 10)
	f := newBackfillFixture(t, s, "")
	_, n := f.page(t, 1)
	require.Equal(t, 2, n)
	var usersAt, listAt time.Time
	for _, r := range s.RequestStats().Recent {
		switch r.Path {
		case "/api/v1/idea_users":
			usersAt = r.Time
		case "/api/v1/idea_organizations":
			listAt = r.Time
		}
	}
	require.False(t, listAt.IsZero())
	var at time.Time
	for _, o := range s.OrganizationIDs() {
		org, readAt, ok := f.people.Orgs.Cached(o, time.Now())
		require.True(t, ok)
		require.NotNil(t, org)
		assert.True(t, org.Full())
		at = readAt
		assert.True(t, !at.Before(usersAt) && !at.After(listAt), "read at %s: after the users (%s), before the list call reached Aha! (%s)", at, usersAt, listAt)
	}
	f.rec.evs = map[string]contract.PersonEvent{}
	page2 := time.Now()
	_, n = f.page(t, 2)
	assert.Equal(t, 1, n, "the users only: organizations cached")
	require.Len(t, f.rec.evs, 200)
	for email, ev := range f.rec.evs {
		assert.True(t, ev.FetchedAt.Equal(at) && at.Before(page2), "%s: fetched at %s, the organizations read at %s", email, ev.FetchedAt, at)
	}
	f.checkOrgs(t)
}

// fieldsProxy is an Aha! that ignores fields (a proxy to the simulator that
// drops the parameter, so the organization list answers compact records) or,
// with refuse, answers 400 to a request with it.
func fieldsProxy(t *testing.T, s *ahasim.Server, refuse bool) string {
	t.Helper()
	target, err := url.Parse(s.URL())
	require.NoError(t, err)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		q := r.Out.URL.Query()
		q.Del("fields")
		r.Out.URL.RawQuery = q.Encode()
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse && r.URL.Query().Has("fields") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errors":{"message":"Unknown parameter fields"}}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An Aha! that ignores fields answers compact organizations: none of them is
// used (revenue would be blank), each organization is read with a GET, one
// warning is logged, and later pages do not list again. One that refuses
// fields (400) is treated the same way.
func TestBackfillFallsBackWhenFieldsIgnored(t *testing.T) {
	for name, refuse := range map[string]bool{"ignored": false, "refused": true} {
		t.Run(name, func(t *testing.T) {
			s := newBulkSim(t)
			s.BulkPeople(400, 10)
			f := newBackfillFixture(t, s, fieldsProxy(t, s, refuse))
			res, n := f.page(t, 1)
			assert.Equal(t, 1+1+10, n, "the users, the list, 10 GETs")
			assert.Equal(t, n, res.AhaCalls)
			assert.Equal(t, 1, strings.Count(f.log.String(), "level=WARN"), f.log.String())
			assert.Contains(t, f.log.String(), map[bool]string{false: "ignores fields", true: "refused fields (400)"}[refuse])
			f.checkOrgs(t)

			// The next page, its organizations no longer cached: GETs, no
			// list, no second warning.
			f.people.Orgs.Clear()
			f.rec.evs = map[string]contract.PersonEvent{}
			res, n = f.page(t, 2)
			assert.Equal(t, 1+10, n)
			assert.Equal(t, n, res.AhaCalls)
			assert.Equal(t, 1, strings.Count(f.log.String(), "level=WARN"))
			f.checkOrgs(t)
		})
	}
}
