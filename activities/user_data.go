package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ahacc/ahacc/internal/aha"
	"github.com/ahacc/ahacc/internal/centercode"
	"github.com/ahacc/ahacc/internal/contract"
	"github.com/ahacc/ahacc/internal/dedup"
	"github.com/ahacc/ahacc/internal/people"
	"github.com/ahacc/ahacc/mapping"
)

// Error type of a person Centercode does not know, when on_unknown_user is park.
const ErrTypeUnknownUser = "UnknownUser"

// UserDataRoutes tells a person's workflow how the current config treats user
// data (run as a local activity: cheap, no far-side call, no URLs in history).
func (a *Activities) UserDataRoutes(ctx context.Context) (UserDataRoutes, error) {
	cfg := a.config()
	r := UserDataRoutes{Debounce: cfg.Sync.Debounce, Retry: retryOf(cfg), ConfigHash: cfg.ShortHash()}
	if ud := cfg.UserData; ud != nil {
		r.Enabled = true
		r.OnUnknownUser = ud.OnUnknownUser
	}
	return r, nil
}

// HydratePerson reads one person from Aha! afresh: the idea user with this
// email (GET /api/v1/idea_users?email=), each of their organizations and,
// when the config feeds portal_user records to user data, their portal users
// (GET /api/v1/idea_portals/{id}/portal_users?email=, one per idea portal;
// the portal list itself comes from the worker's cache). A person Aha! no
// longer has under this email (deleted, or their email changed) comes back
// with Found false and a record holding only the email, which maps every key
// to "" and so clears their data in Centercode.
func (a *Activities) HydratePerson(ctx context.Context, req HydratePersonRequest) (PersonRecord, error) {
	p, err := a.people()
	if err != nil {
		return PersonRecord{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeConfig, nil)
	}
	email := contract.NormalizeEmail(req.Email)
	start := time.Now()
	users, _, err := p.ListIdeaUsers(ctx, 1, 20, url.Values{"email": {email}})
	if err != nil {
		return PersonRecord{}, Classify("find Aha! idea user "+email, err)
	}
	var u *aha.IdeaUser
	for i := range users {
		if contract.NormalizeEmail(users[i].Email) == email {
			u = &users[i]
			break
		}
	}
	if u == nil {
		b, _ := json.Marshal(map[string]any{"email": email})
		return PersonRecord{Email: email, Found: false, JSON: b, FetchedAt: start}, nil
	}
	orgs := people.NewOrgReader(p, false) // fresh: this read decides what is written
	var portals people.UsersFunc
	if a.config().UserData.Accepts(mapping.KindPortalUser) {
		portals = people.NewPortalReader(p).ByEmail
	}
	b, _, err := people.BuildPerson(ctx, *u, orgs, portals, start)
	if err != nil {
		return PersonRecord{}, Classify("read the organizations and portal users of Aha! idea user "+email, err)
	}
	return PersonRecord{Email: email, IdeaUserID: u.ID.String(), Name: u.Name, Found: true, JSON: b, FetchedAt: start}, nil
}

// HydrateAndMapPerson is HydratePerson, mapped at once (MapUserData): the
// workflow keeps the body it writes and its hash, never the person's record.
func (a *Activities) HydrateAndMapPerson(ctx context.Context, req HydratePersonRequest) (PersonRecord, error) {
	pr, err := a.HydratePerson(ctx, req)
	if err != nil {
		return PersonRecord{}, err
	}
	body, err := a.MapUserData(ctx, MapUserDataRequest{Email: req.Email, Record: pr.JSON})
	if err != nil {
		return PersonRecord{}, err
	}
	pr.JSON, pr.Mapped = nil, &body
	return pr, nil
}

// MapUserData maps a person with the config's user_data section into the
// listener body: the email plus every configured key, a key without a value
// sent as "" so Centercode clears what Aha! no longer has. The hash covers the
// whole body, so an unchanged person is never written twice.
func (a *Activities) MapUserData(ctx context.Context, req MapUserDataRequest) (UserDataBody, error) {
	cfg := a.config()
	ud := cfg.UserData
	if ud == nil {
		return UserDataBody{}, temporal.NewNonRetryableApplicationError("the current config has no user_data section", ErrTypeConfig, nil)
	}
	res, err := ud.Map(req.Record)
	if err != nil {
		return UserDataBody{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMapping, nil)
	}
	body, email, keys, cleared := ud.ListenerBody(res, req.Email)
	b, err := json.Marshal(body) // map keys sorted: canonical
	if err != nil {
		return UserDataBody{}, temporal.NewNonRetryableApplicationError("encode user data: "+err.Error(), ErrTypeMapping, nil)
	}
	sum := sha256.Sum256(b)
	return UserDataBody{Email: email, Body: b, Hash: hex.EncodeToString(sum[:]), Keys: keys, Cleared: cleared, ConfigHash: cfg.ShortHash()}, nil
}

// centercodeUserKey is the body key naming the target user.
const centercodeUserKey = mapping.UserKey

// ErrTypeWriteInFlight: another attempt of the same write step holds its
// ledger claim (a task run again while the first still runs); retried.
const ErrTypeWriteInFlight = "WriteInFlight"

// ledgerSource names user-data writes in the write ledger.
const ledgerSource = "userdata"

// PostUserData sends a mapped body to the configured user-data listener. A
// 404 naming the email (Centercode has no such user) is skipped with a reason
// or parks the person, per user_data.on_unknown_user; 403 and the other
// permanent answers park with the far side's words; 429/5xx retry.
//
// It runs as a local activity, which Temporal runs again when the workflow
// task around it is lost; Centercode appends what a listener receives, so
// the write ledger (Redis) keeps one write per workflow step: claimed before,
// confirmed after, released on failure. Without Redis every attempt writes.
// With Remember it also decides, from what the person's earlier runs kept in
// Redis, whether to write at all, and keeps what it wrote (Kept).
func (a *Activities) PostUserData(ctx context.Context, req PostUserDataRequest) (PostUserDataResult, error) {
	cfg := a.config()
	ud := cfg.UserData
	if ud == nil {
		return PostUserDataResult{}, temporal.NewNonRetryableApplicationError("the current config has no user_data section", ErrTypeConfig, nil)
	}
	if !req.Remember {
		return a.postUserDataOnce(ctx, ud, req)
	}
	kept, canKeep := a.recallPerson(ctx, req.Email)
	if !canKeep && a.Memo != nil && !req.Fresh && req.LastFetchedAt.IsZero() {
		// Redis cannot tell what an earlier run wrote, nor can the run: a
		// snapshot may be older than it; read Aha! afresh.
		return PostUserDataResult{Stale: true}, nil
	}
	res, write, next := req.Decide(kept, time.Now())
	if write {
		var err error
		if res, err = a.postUserDataOnce(ctx, ud, req); err != nil || res.UnknownUser {
			res.Kept = err == nil && canKeep // nothing written, nothing new to keep
			return res, err
		}
		next.WrittenAt = time.Now() // when Centercode took it (a wait for the budget came first)
	}
	res.Kept = canKeep && a.keepPerson(ctx, req.Email, kept, next)
	return res, nil
}

// PersonKept is what a person's runs keep in Redis about the last write: a
// run that completed leaves it for the next, which decides from it whether
// to write (unchanged, or a snapshot older than what was written).
type PersonKept struct {
	Hash      string    `json:"hash"`
	FetchedAt time.Time `json:"fetched_at"`
	// WrittenAt: when the last write was made (the next waits out its window).
	WrittenAt time.Time `json:"written_at,omitempty"`
}

// Decide is a Remember write's decision, at now, from what this run (Last*)
// and earlier runs (kept) know: nothing written (res says Stale, Unchanged,
// or Wait: an earlier run wrote inside the coalescing window) or write;
// next is what to keep afterwards.
func (req PostUserDataRequest) Decide(kept PersonKept, now time.Time) (res PostUserDataResult, write bool, next PersonKept) {
	known := PersonKept{Hash: req.LastHash, FetchedAt: req.LastFetchedAt}
	if kept.FetchedAt.After(known.FetchedAt) || (kept.Hash != "" && kept.FetchedAt.Equal(known.FetchedAt)) {
		known = kept
	}
	next = PersonKept{Hash: req.Hash, FetchedAt: laterOf(known.FetchedAt, req.FetchedAt), WrittenAt: kept.WrittenAt}
	if req.Hash != "" && req.Hash == known.Hash {
		// Centercode holds this already (a write run again after its task
		// was lost finds it here too).
		return PostUserDataResult{Unchanged: true}, false, next
	}
	if !req.Fresh && !known.FetchedAt.IsZero() && !req.FetchedAt.After(known.FetchedAt) {
		return PostUserDataResult{Stale: true}, false, kept // never written over newer data
	}
	// Another run's write: wait out its window (a run spaces its own).
	if until := kept.WrittenAt.Add(req.Window); req.Window > 0 && req.LastHash == "" && now.Before(until) {
		return PostUserDataResult{Wait: until.Sub(now)}, false, kept
	}
	next.WrittenAt = now
	return PostUserDataResult{}, true, next
}

func personMemoKey(email string) string { return "person:" + email }

// recallPerson reads what earlier runs kept; ok is false without Redis or
// when it cannot be read (the run then keeps its state and does not complete).
func (a *Activities) recallPerson(ctx context.Context, email string) (PersonKept, bool) {
	var k PersonKept
	if a.Memo == nil {
		return k, false
	}
	b, found, err := a.Memo.Get(ctx, personMemoKey(email))
	if err == nil && found {
		err = json.Unmarshal(b, &k)
	}
	if err != nil {
		a.Logger.Warn("what earlier runs kept of a person cannot be read; the run keeps its own", "email", email, "error", err)
		return PersonKept{}, false
	}
	return k, true
}

// keepPerson stores next unless Redis holds it already; false when it failed.
func (a *Activities) keepPerson(ctx context.Context, email string, had, next PersonKept) bool {
	if had.Hash == next.Hash && had.FetchedAt.Equal(next.FetchedAt) && had.WrittenAt.Equal(next.WrittenAt) {
		return true
	}
	b, _ := json.Marshal(next)
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.Memo.Put(lctx, personMemoKey(email), b); err != nil {
		a.Logger.Warn("what was written for a person could not be kept; the run keeps it", "email", email, "error", err)
		return false
	}
	return true
}

func laterOf(x, y time.Time) time.Time {
	if y.After(x) {
		return y
	}
	return x
}

// postUserDataOnce writes through the write ledger (see PostUserData).
func (a *Activities) postUserDataOnce(ctx context.Context, ud *mapping.UserData, req PostUserDataRequest) (PostUserDataResult, error) {
	id, owner := "", ""
	if a.Writes != nil && req.Step > 0 {
		we := activity.GetInfo(ctx).WorkflowExecution
		id = fmt.Sprintf("%s:%s:%d", we.ID, we.RunID, req.Step)
		if req.Hash != "" {
			// A task run again may map newer data into the same step (its
			// completion refused for a signal that came meanwhile): that
			// body is another write.
			id += ":" + req.Hash
		}
		state, o, err := a.Writes.Claim(ctx, ledgerSource, id)
		switch {
		case err != nil: // the write matters more than its ledger
			a.Logger.Warn("write ledger unavailable; writing without it", "email", req.Email, "error", err)
			id = ""
		case state == dedup.Done:
			a.Logger.Info("user data already written by an earlier run of this step", "email", req.Email, "step", req.Step)
			return PostUserDataResult{}, nil
		case state == dedup.InFlight:
			return PostUserDataResult{}, temporal.NewApplicationError("another attempt of this write is under way", ErrTypeWriteInFlight)
		default:
			owner = o
		}
	}
	res, err := a.postUserData(ctx, ud, req)
	if id != "" {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err == nil && !res.UnknownUser {
			err2 := a.Writes.Confirm(lctx, ledgerSource, id)
			if err2 != nil {
				a.Logger.Warn("write ledger not confirmed; a rerun of this step would write again", "email", req.Email, "error", err2)
			}
		} else if err2 := a.Writes.Release(lctx, ledgerSource, id, owner); err2 != nil {
			a.Logger.Warn("write ledger claim not released; it expires by itself", "email", req.Email, "error", err2)
		}
	}
	return res, err
}

func (a *Activities) postUserData(ctx context.Context, ud *mapping.UserData, req PostUserDataRequest) (PostUserDataResult, error) {
	err := a.Centercode.PostListener(ctx, ud.ListenerURL.Value(), req.Body)
	if err == nil {
		return PostUserDataResult{}, nil
	}
	if centercode.IsNotFound(err) && unknownUser(err) {
		reason := fmt.Sprintf("Centercode has no user %s (404 from the user-data listener)", req.Email)
		if ud.OnUnknownUser == "park" {
			return PostUserDataResult{}, temporal.NewNonRetryableApplicationError(reason+"; user_data.on_unknown_user is park", ErrTypeUnknownUser, nil)
		}
		a.Logger.Info("user data skipped: unknown Centercode user", "email", req.Email, "reason", "unknown_user", "on_unknown_user", ud.OnUnknownUser)
		return PostUserDataResult{UnknownUser: true, Reason: reason}, nil
	}
	return PostUserDataResult{}, Classify("post user data for "+req.Email, err)
}

// unknownUser tells the documented unknown-user answer (a 404 whose body
// names the email parameter, Assumption 4) from any other 404 — a wrong
// listener URL above all — which parks with Centercode's words rather than
// skip everyone's data.
func unknownUser(err error) bool {
	var ce *centercode.Error
	return errors.As(err, &ce) && ce.Element == centercodeUserKey
}

// ResolvePeople turns people audits into events for the people they concern.
// An idea user or portal user resolves to one email (the person's workflow
// reads them afresh when it syncs); an organization fans out to every idea
// user in it, page by page (per_page=200), each signalled with a snapshot read
// from the page so the organization costs pages, not people, in Aha! calls.
// A portal user is looked for in the account's idea portals (listed from
// Aha!, the list cached per worker): its last-known portal first, then each
// portal in turn. Every Aha! call goes through the client's limiter (the
// shared budget) and is counted in AhaCalls.
func (a *Activities) ResolvePeople(ctx context.Context, req ResolvePeopleRequest) (ResolvePeopleResult, error) {
	p, err := a.people()
	if err != nil {
		return ResolvePeopleResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeConfig, nil)
	}
	var res ResolvePeopleResult
	ev := contract.PersonEvent{AuditIDs: req.AuditIDs, Kind: req.Kind, AhaID: req.AhaID, Hydrate: true, Source: req.Source}
	hydrate := func(email string) error {
		if email = contract.NormalizeEmail(email); email == "" {
			return nil
		}
		for _, e := range res.Emails {
			if e == email {
				return nil
			}
		}
		if err := signalPerson(ctx, email, ev); err != nil {
			return err
		}
		res.Emails = append(res.Emails, email)
		res.People++
		return nil
	}
	switch req.Kind {
	case mapping.KindIdeaUser, mapping.KindPortalUser:
		userID := req.AhaID
		if req.Kind == mapping.KindPortalUser {
			portals := people.NewPortalReader(p)
			pu, err := portals.Find(ctx, req.AhaID)
			res.AhaCalls += portals.Calls
			if err != nil {
				if aha.IsNotFound(err) {
					res.Gone = true
					return res, signalAll(req.PreviousEmails, hydrate)
				}
				return res, Classify("find Aha! portal user "+req.AhaID, err)
			}
			userID = pu.IdeaUserID.String()
			if userID == "" {
				// A portal user without an idea user: its own email is the key.
				return res, signalAll(append([]string{pu.Email}, req.PreviousEmails...), hydrate)
			}
		}
		ev.IdeaUserID = userID
		res.AhaCalls++
		u, err := p.GetIdeaUser(ctx, userID)
		if err != nil {
			if aha.IsNotFound(err) {
				res.Gone = true
				return res, signalAll(req.PreviousEmails, hydrate)
			}
			return res, Classify("fetch Aha! idea user "+userID, err)
		}
		return res, signalAll(append([]string{u.Email}, req.PreviousEmails...), hydrate)
	case mapping.KindIdeaOrganization:
		return a.fanOutOrganization(ctx, p, req, res)
	default:
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("record kind %q is not a people kind", req.Kind), ErrTypeConfig, nil)
	}
}

func signalAll(emails []string, f func(string) error) error {
	for _, e := range emails {
		if err := f(e); err != nil {
			return err
		}
	}
	return nil
}

// fanOutOrganization signals every idea user of an organization with a
// snapshot (the organization read afresh, their other organizations and their
// portal users through the worker's caches). Idea users are listed with
// idea_organization_id (an assumed filter the simulator implements) and
// checked again here, so an Aha! that ignored the filter costs more pages but
// signals the same people.
func (a *Activities) fanOutOrganization(ctx context.Context, p people.API, req ResolvePeopleRequest, res ResolvePeopleResult) (ResolvePeopleResult, error) {
	orgs := people.NewOrgReader(p, true)
	// Read the changed organization afresh (and refresh the cache with it).
	orgs.UseCache(false)
	org, _, err := orgs.Get(ctx, req.AhaID)
	if err != nil {
		return res, Classify("fetch Aha! organization "+req.AhaID, err)
	}
	orgs.UseCache(true)
	res.Gone = org == nil
	var portals *people.PortalReader
	var portalUsers people.UsersFunc
	if a.config().UserData.Accepts(mapping.KindPortalUser) {
		portals = people.NewPortalReader(p)
		portalUsers = portals.Indexed
	}
	page := 1
	if activity.HasHeartbeatDetails(ctx) {
		var done int
		if activity.GetHeartbeatDetails(ctx, &done) == nil && done > 0 {
			page = done + 1
		}
	}
	for {
		start := time.Now()
		users, pag, err := p.ListIdeaUsers(ctx, page, BackfillPerPage, url.Values{"idea_organization_id": {req.AhaID}})
		res.AhaCalls++
		if err != nil {
			return res, Classify(fmt.Sprintf("list idea users of organization %s (page %d)", req.AhaID, page), err)
		}
		var batch []personSignal
		for _, u := range users {
			if u.Email == "" || !inOrg(u, req.AhaID) {
				continue
			}
			ev := contract.PersonEvent{AuditIDs: req.AuditIDs, Kind: req.Kind, AhaID: req.AhaID, IdeaUserID: u.ID.String(), Source: "fanout"}
			if res.Gone {
				ev.Hydrate = true // the organization is gone: read each person afresh
			} else {
				snap, at, err := people.BuildPerson(ctx, u, orgs, portalUsers, start)
				if err != nil {
					return res, Classify("read organizations and portal users for "+contract.NormalizeEmail(u.Email), err)
				}
				ev.Snapshot, ev.FetchedAt = snap, at
			}
			batch = append(batch, personSignal{email: u.Email, ev: ev})
		}
		if err := signalMany(ctx, batch, a.personPace()); err != nil {
			return res, err
		}
		for _, s := range batch {
			res.People++
			if len(res.Emails) < 20 {
				res.Emails = append(res.Emails, contract.NormalizeEmail(s.email))
			}
		}
		Checkpoint(ctx, page)
		if len(users) == 0 || page >= pag.TotalPages {
			break
		}
		page++
	}
	res.AhaCalls += orgs.Calls
	if portals != nil {
		res.AhaCalls += portals.Calls
	}
	return res, nil
}

func inOrg(u aha.IdeaUser, orgID string) bool {
	for _, o := range u.IdeaOrganizations {
		if o.ID.String() == orgID {
			return true
		}
	}
	return false
}

// BackfillUsersPage reads one page of /api/v1/idea_users (per_page 200 by
// default) and signals each person's workflow with a snapshot built from the
// page, their organizations (each organization read once per worker through
// the cache, not once per person) and, when the config feeds portal_user
// records to user data, their portal users (from the worker's index of every
// portal's users). Aha! calls: one for the page; for the organizations not yet
// cached, one per 200 organizations of the account when two or more are
// missing (listed with fields, see orgReader.prime), else one each; plus the
// portal-user pages when the index is rebuilt.
func (a *Activities) BackfillUsersPage(ctx context.Context, req BackfillPageRequest) (BackfillPageResult, error) {
	p, err := a.people()
	if err != nil {
		return BackfillPageResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeConfig, nil)
	}
	perPage := req.PerPage
	if perPage <= 0 {
		perPage = BackfillPerPage
	}
	filters := url.Values{}
	if !req.Since.IsZero() {
		filters.Set("updated_since", req.Since.UTC().Format(time.RFC3339))
	}
	start := time.Now()
	users, pag, err := p.ListIdeaUsers(ctx, req.Page, perPage, filters)
	if err != nil {
		return BackfillPageResult{}, Classify(fmt.Sprintf("list Aha! idea users (page %d)", req.Page), err)
	}
	res := BackfillPageResult{Page: req.Page, TotalPages: pag.TotalPages, TotalRecords: pag.TotalRecords, Users: len(users), AhaCalls: 1}
	orgs := people.NewOrgReader(p, true)
	var portals *people.PortalReader
	var portalUsers people.UsersFunc
	if a.config().UserData.Accepts(mapping.KindPortalUser) {
		portals = people.NewPortalReader(p)
		portalUsers = portals.Indexed
	}
	withEmail := make([]aha.IdeaUser, 0, len(users))
	for _, u := range users {
		if strings.TrimSpace(u.Email) == "" {
			res.NoEmail++
			continue
		}
		withEmail = append(withEmail, u)
	}
	fellBack, err := orgs.Prime(ctx, withEmail)
	if err != nil {
		return res, Classify("list Aha! organizations", err)
	}
	if fellBack != "" {
		a.Logger.Warn("Aha! organizations read one by one: "+fellBack, "fields", strings.Join(aha.IdeaOrganizationFields, ","), "page", req.Page)
	}
	batch := make([]personSignal, 0, len(withEmail))
	for _, u := range withEmail {
		snap, at, err := people.BuildPerson(ctx, u, orgs, portalUsers, start)
		if err != nil {
			return res, Classify("read organizations and portal users for "+contract.NormalizeEmail(u.Email), err)
		}
		batch = append(batch, personSignal{email: u.Email, ev: contract.PersonEvent{Kind: "backfill", AhaID: u.ID.String(),
			IdeaUserID: u.ID.String(), Snapshot: snap, FetchedAt: at, Source: "backfill"}})
	}
	res.AhaCalls += orgs.Calls
	if portals != nil {
		res.AhaCalls += portals.Calls
	}
	if err := signalMany(ctx, batch, a.personPace()); err != nil {
		return res, err
	}
	res.Signalled = len(batch)
	return res, nil
}

type personSignal struct {
	email string
	ev    contract.PersonEvent
}

// personPacer spaces the people a backfill or an organization fan-out
// signals, one per worker process.
var personPacer pacer

// pace is how signalMany spaces its signals.
type pace struct {
	interval time.Duration
	burst    int
}

// personPace spaces signals 2% faster than the Centercode budget's sustained
// rate, which is where every person's write goes: the people's workflows then
// find the budget nearly free instead of queueing for it by the thousand (each
// waiting write holds a workflow task open), and a short queue still forms, so
// a hiccup upstream (a page read, a busy workflow task) does not leave the
// budget's slots unused — paced at exactly its rate the budget sat idle for
// 2 s of a 10,000-write backfill. The pacer lets 2 s of signals catch up after
// a pause between pages.
func (a *Activities) personPace() pace {
	iv := sustainedInterval(a.config().Centercode.Rate)
	if iv <= 0 {
		return pace{}
	}
	return pace{interval: iv * 98 / 100, burst: int(2 * time.Second / iv)}
}

// signalMany signals people concurrently (a few at a time: each is one
// SignalWithStart round trip to Temporal), spaced by p.
func signalMany(ctx context.Context, batch []personSignal, p pace) error {
	const workers = 32
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan personSignal)
	)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				if err := personPacer.wait(ctx, p.interval, p.burst); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				if err := signalPerson(ctx, s.email, s.ev); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range batch {
		next <- s
	}
	close(next)
	wg.Wait()
	return first
}

// signalPerson signals-with-start a person's UserDataWorkflow on this
// activity's task queue, with the Temporal client the worker runs with (so
// no client or address travels in activity inputs).
func signalPerson(ctx context.Context, email string, ev contract.PersonEvent) error {
	email = contract.NormalizeEmail(email)
	id := contract.UserDataWorkflowID(email)
	c := activity.GetClient(ctx)
	_, err := c.SignalWithStartWorkflow(ctx, id, contract.SignalPersonEvent, ev, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             activity.GetInfo(ctx).TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         "Aha! person " + email + " → Centercode user data",
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(contract.SAAhaRecordType).ValueSet(mapping.KindIdeaUser),
			temporal.NewSearchAttributeKeyKeyword(contract.SAAhaReference).ValueSet(email),
			temporal.NewSearchAttributeKeyKeyword(contract.SASyncState).ValueSet(contract.StateSyncing),
		),
	}, contract.UserDataWorkflowType, contract.UserDataStart{Email: email})
	if err != nil {
		return temporal.NewApplicationError(fmt.Sprintf("signal %s: %v", id, err), ErrTypeTransient)
	}
	return nil
}

// people is the worker's people reader (unexported: not an activity).
func (a *Activities) people() (people.API, error) {
	if a.People == nil {
		return nil, errors.New("this worker has no reader of Aha! people (idea users, organizations)")
	}
	return a.People, nil
}
