package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/runnel/runnel/account/journal"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// ChargeMode says what a completed job costs.
type ChargeMode string

const (
	// ChargePerJob deducts Config.JobCredits per completed job (default).
	ChargePerJob ChargeMode = "job"
	// ChargeByCost deducts the job's total cost times CreditsPerUnit,
	// rounded up; the reservation at creation is still JobCredits.
	ChargeByCost ChargeMode = "cost"
)

// Config of a Service. The zero value is usable: auth off, 1 credit per
// completed job, jobs abandoned after an hour.
type Config struct {
	// Auth requires a valid key on every call (serve --auth, RUNNEL_AUTH=1).
	Auth bool
	// AdminKey (RUNNEL_ADMIN_KEY) may call /admin/… and act for any team.
	AdminKey string

	Charge         ChargeMode
	JobCredits     int64   // credits per completed job; default 1
	CreditsPerUnit float64 // ChargeByCost: credits per currency unit of cost; default 1000

	// AbandonAfter releases the reservation of a job not touched for this
	// long (default 1h); SweepEvery is how often that is checked.
	AbandonAfter time.Duration
	SweepEvery   time.Duration

	// DefaultKeyLimits and DefaultTeamLimits apply where a key or team has
	// no limits of its own.
	DefaultKeyLimits  Limits
	DefaultTeamLimits Limits

	// Limiter keeps the rate-limit counts: in process when nil, or shared
	// between processes (account/redislimit, with REDIS_URL).
	Limiter Limiter

	// Prices, for calls whose record arrives without a cost.
	Prices gateway.Prices

	// Journal is the path of the file that makes records of calls outside
	// jobs durable as each call ends, so that they are written to the store
	// off the response's path (see account/journal). "" writes them to the
	// store before the response ends. The process that owns it (the server
	// while it runs) replays what an earlier owner left.
	Journal string
	// JournalReplayOnly stores what the journal holds and lets go of it,
	// without waiting for it or journaling: for admin commands, which make
	// no calls and must not keep a starting server from owning it.
	JournalReplayOnly bool

	Logger *slog.Logger
	Now    func() time.Time
}

// Service is the account layer. It implements gateway.Accountant.
type Service struct {
	store   Store
	cfg     Config
	lim     Limiter
	pending ledger
	keys    *keyCache
	log     *slog.Logger

	// Records journaled and waiting for the store; see Config.Journal.
	journal *journal.Journal
	writes  chan pendingWrite
	wmu     sync.RWMutex // held to send on writes; Close takes it to close it
	wclosed bool
	writers sync.WaitGroup
	written writeCount

	stopOnce sync.Once
	stop     chan struct{}
	swept    chan struct{}
}

var _ gateway.Accountant = (*Service)(nil)

// New returns a Service over st and starts its sweeper of abandoned jobs.
// Close stops it and closes st.
func New(st Store, cfg Config) *Service {
	if cfg.Charge == "" {
		cfg.Charge = ChargePerJob
	}
	if cfg.JobCredits <= 0 {
		cfg.JobCredits = 1
	}
	if cfg.CreditsPerUnit <= 0 {
		cfg.CreditsPerUnit = 1000
	}
	if cfg.AbandonAfter <= 0 {
		cfg.AbandonAfter = time.Hour
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limiter == nil {
		cfg.Limiter = newMemLimiter()
	}
	s := &Service{store: st, cfg: cfg, lim: cfg.Limiter, keys: newKeyCache(st), log: cfg.Logger, stop: make(chan struct{}), swept: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.written.cond.L = &s.written.mu
	if cfg.Journal != "" {
		s.openJournal(cfg.Journal)
	}
	go s.sweepLoop()
	return s
}

// Logger is where the service logs.
func (s *Service) Logger() *slog.Logger { return s.log }

// Store returns the service's store.
func (s *Service) Store() Store { return s.store }

// Config returns the configuration in effect (defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// Close stops the sweeper, writes the journaled records to the store and
// closes it.
func (s *Service) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.swept
	if s.journal != nil {
		s.wmu.Lock()
		s.wclosed = true
		close(s.writes)
		s.wmu.Unlock()
		s.writers.Wait()
		s.journal.Close()
	}
	return s.store.Close()
}

func (s *Service) sweepLoop() {
	defer close(s.swept)
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if n, err := s.Sweep(context.Background()); err != nil {
				s.log.Warn("account: releasing abandoned jobs", "err", err)
			} else if n > 0 {
				s.log.Info("account: released abandoned jobs", "jobs", n)
			}
		}
	}
}

// Sweep settles as expired, releasing their credits, the open jobs not
// touched for AbandonAfter. It returns how many it settled.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	n := 0
	for {
		ids, err := s.store.StaleJobs(ctx, now.Add(-s.cfg.AbandonAfter), 100)
		if err != nil || len(ids) == 0 {
			return n, err
		}
		for _, id := range ids {
			_, _, settled, err := s.store.SettleJob(ctx, id, JobExpired, 0, now)
			if err != nil {
				return n, err
			}
			if settled {
				n++
				s.reservationsChanged()
			}
		}
		if len(ids) < 100 {
			return n, nil
		}
	}
}

// ---- admin operations ----

// CreateTeam creates a team with an initial balance.
func (s *Service) CreateTeam(ctx context.Context, name string, credits int64) (Team, error) {
	return s.CreateTeamID(ctx, "", name, credits)
}

// CreateTeamID creates a team with a chosen id, a slug (see ValidTeamID),
// or a generated one if id is "". A taken id is a 409.
func (s *Service) CreateTeamID(ctx context.Context, id, name string, credits int64) (Team, error) {
	if id != "" {
		if err := checkSlug(id); err != nil {
			return Team{}, err
		}
	}
	if name == "" || len(name) > 200 {
		return Team{}, stream.InvalidParam("name", "a team name must be 1 to 200 characters")
	}
	if credits < 0 {
		return Team{}, stream.InvalidParam("credits", "credits must not be negative")
	}
	if id == "" {
		id = newID("team_")
	}
	t := Team{ID: id, Name: name, Credits: credits, Created: s.cfg.Now().UTC()}
	if err := s.store.CreateTeam(ctx, t); err != nil {
		if errors.Is(err, ErrExists) {
			return Team{}, stream.Errorf(stream.CodeConflict, "a team named %q or with id %q already exists", name, id)
		}
		return Team{}, internal(err)
	}
	return t, nil
}

// Team returns a team, 404 as a *stream.Error.
func (s *Service) Team(ctx context.Context, id string) (Team, error) {
	if !ValidTeamID(id) {
		return Team{}, stream.InvalidParam("team_id", "%q is not a team id (team_ and 16 characters, or a slug like acme-corp)", clip(id))
	}
	s.written.wait(ctx) // its balance shows every call that has ended
	t, err := s.store.Team(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Team{}, stream.Errorf(stream.CodeNotFound, "team %s not found", id)
	}
	if err != nil {
		return Team{}, internal(err)
	}
	return t, nil
}

// CreateKey creates a key for a team and returns it: the only time the
// whole key exists outside the caller.
func (s *Service) CreateKey(ctx context.Context, teamID, name string, limits Limits) (string, Key, error) {
	if _, err := s.Team(ctx, teamID); err != nil {
		return "", Key{}, err
	}
	if limits.RPM < 0 || limits.TPM < 0 {
		return "", Key{}, stream.InvalidParam("rpm", "limits must not be negative")
	}
	secret := newKey()
	k := Key{ID: newID("key_"), TeamID: teamID, Name: name, Prefix: LookupPrefix(secret), Hash: hashKey(secret), Limits: limits, Created: s.cfg.Now().UTC()}
	if err := s.store.CreateKey(ctx, k); err != nil {
		return "", Key{}, internal(err)
	}
	s.changed(ctx) // a cached lookup of the same prefix lacks the new key
	return secret, k, nil
}

// RevokeKey revokes the key given whole, by its lookup prefix, or by id.
// A prefix shared by several live keys is refused as ambiguous.
func (s *Service) RevokeKey(ctx context.Context, keyOrPrefix string) (Key, error) {
	var k Key
	switch {
	case ValidID("key", keyOrPrefix):
		var err error
		if k, err = s.store.Key(ctx, keyOrPrefix); err != nil {
			if errors.Is(err, ErrNotFound) {
				return Key{}, stream.Errorf(stream.CodeNotFound, "key %s not found", keyOrPrefix)
			}
			return Key{}, internal(err)
		}
	case LookupPrefix(keyOrPrefix) != "":
		prefix := LookupPrefix(keyOrPrefix)
		ks, err := s.store.KeysByPrefix(ctx, prefix)
		if err != nil {
			return Key{}, internal(err)
		}
		var match []Key
		for _, c := range ks {
			if len(keyOrPrefix) == len(prefix) || string(hashKey(keyOrPrefix)) == string(c.Hash) {
				match = append(match, c)
			}
		}
		switch len(match) {
		case 0:
			return Key{}, stream.Errorf(stream.CodeNotFound, "no key matches %s…", prefix)
		case 1:
			k = match[0]
		default:
			return Key{}, stream.Errorf(stream.CodeConflict, "%d keys start with %s; revoke by key id", len(match), prefix)
		}
	default:
		return Key{}, stream.InvalidParam("key", "give a key, its prefix (rk_ and 8 characters) or its id (key_…)")
	}
	if err := s.store.RevokeKey(ctx, k.ID, s.cfg.Now().UTC()); err != nil {
		return Key{}, internal(err)
	}
	s.changed(ctx)
	return s.store.Key(ctx, k.ID)
}

// AddCredits adds n credits (negative to remove) to a team.
func (s *Service) AddCredits(ctx context.Context, teamID string, n int64) (Team, error) {
	cur, err := s.Team(ctx, teamID)
	if err != nil {
		return Team{}, err
	}
	if n > 0 && cur.Credits > math.MaxInt64-n {
		// The store would overflow: a client's mistake, not a server fault.
		return Team{}, stream.InvalidParam("amount", "amount %d would take the balance of %d past the largest balance, %d", n, cur.Credits, int64(math.MaxInt64))
	}
	t, err := s.store.AddCredits(ctx, teamID, n)
	if errors.Is(err, ErrInsufficientCredits) {
		return Team{}, stream.Errorf(stream.CodeConflict, "the balance cannot go below the credits reserved by open jobs")
	}
	if err != nil {
		return Team{}, internal(err)
	}
	s.changed(ctx)
	return t, nil
}

// changed announces a committed change to keys or teams: cached key
// lookups, here and in other processes, are read again. If the
// announcement fails, other processes see the change once their cached
// lookup expires (snapshotTTL).
func (s *Service) changed(ctx context.Context) {
	if err := s.keys.changed(ctx); err != nil {
		s.log.Warn("account: announcing a change to keys or teams", "err", err)
	}
}

// reservationsChanged drops this process's cached key lookups after a job
// here reserved or released credits, so plain calls see the team's free
// balance as it is now. Other processes' reservations show once a cached
// lookup expires (snapshotTTL), as do their plain calls' deductions.
func (s *Service) reservationsChanged() { s.keys.local.Add(1) }

// ---- jobs ----

// visible reports whether id may see a job of team.
func visible(id Identity, team string) bool { return id.Admin || id.TeamID == "" || id.TeamID == team }

// teamFor resolves the team a request acts for: the key's team; for the
// admin key or with auth off, the team named in the request.
func (s *Service) teamFor(id Identity, teamID string) (string, error) {
	if id.TeamID != "" {
		if teamID != "" && teamID != id.TeamID {
			// Same answer as a team that does not exist: a key learns
			// nothing about other teams.
			return "", stream.Errorf(stream.CodeNotFound, "team %s not found", clip(teamID))
		}
		return id.TeamID, nil
	}
	if teamID == "" {
		return "", stream.InvalidParam("team_id", "team_id is required")
	}
	if !ValidTeamID(teamID) {
		return "", stream.InvalidParam("team_id", "%q is not a team id (team_ and 16 characters)", clip(teamID))
	}
	return teamID, nil
}

// CreateJob creates a job for the caller's team and reserves its credits,
// or fails with 402 when the team has too few free credits.
func (s *Service) CreateJob(ctx context.Context, id Identity, teamID, jobType string) (Job, error) {
	if len(jobType) > 100 {
		return Job{}, stream.InvalidParam("job_type", "job_type must be at most 100 characters")
	}
	team, err := s.teamFor(id, teamID)
	if err != nil {
		return Job{}, err
	}
	return s.createJob(ctx, id, team, jobType, false)
}

func (s *Service) createJob(ctx context.Context, id Identity, team, jobType string, implicit bool) (Job, error) {
	now := s.cfg.Now().UTC()
	j := Job{ID: newID("job_"), TeamID: team, KeyID: id.KeyID, Type: jobType, Status: JobPending, Reserved: s.cfg.JobCredits, Implicit: implicit, Created: now, Updated: now}
	switch err := s.store.CreateJob(ctx, j); {
	case errors.Is(err, ErrInsufficientCredits):
		return Job{}, stream.Errorf(stream.CodeInsufficientCredit, "team %s has fewer than %d free credits", team, j.Reserved)
	case errors.Is(err, ErrNotFound):
		return Job{}, stream.Errorf(stream.CodeNotFound, "team %s not found", team)
	case err != nil:
		return Job{}, internal(err)
	}
	s.reservationsChanged()
	return j, nil
}

// Job returns a job the caller may see; another team's job is 404.
func (s *Service) Job(ctx context.Context, id Identity, jobID string) (Job, error) {
	if !ValidID("job", jobID) {
		return Job{}, stream.InvalidParam("job_id", "%q is not a job id (job_ and 16 characters)", clip(jobID))
	}
	j, err := s.store.Job(ctx, jobID)
	if errors.Is(err, ErrNotFound) || (err == nil && !visible(id, j.TeamID)) {
		return Job{}, stream.Errorf(stream.CodeNotFound, "job %s not found", jobID)
	}
	if err != nil {
		return Job{}, internal(err)
	}
	return j, nil
}

// CompleteJob settles a job as completed or failed. Completing a settled
// job again returns it unchanged.
func (s *Service) CompleteJob(ctx context.Context, id Identity, jobID string, status JobStatus) (Job, Team, error) {
	if status != JobCompleted && status != JobFailed {
		return Job{}, Team{}, stream.InvalidParam("status", `status must be "completed" or "failed"`)
	}
	j, err := s.Job(ctx, id, jobID)
	if err != nil {
		return Job{}, Team{}, err
	}
	charge, err := s.charge(ctx, j.ID, status)
	if err != nil {
		return Job{}, Team{}, err
	}
	j, t, _, err := s.store.SettleJob(ctx, j.ID, status, charge, s.cfg.Now().UTC())
	if err != nil {
		return Job{}, Team{}, internal(err)
	}
	s.reservationsChanged()
	return j, t, nil
}

// charge is what completing job with status costs in credits.
func (s *Service) charge(ctx context.Context, jobID string, status JobStatus) (int64, error) {
	if status != JobCompleted {
		return 0, nil
	}
	if s.cfg.Charge != ChargeByCost {
		return s.cfg.JobCredits, nil
	}
	tot, err := s.store.JobTotals(ctx, jobID)
	if err != nil {
		return 0, internal(err)
	}
	return s.costCredits(tot.Cost.Total), nil
}

func (s *Service) costCredits(cost float64) int64 {
	// Round away float noise before rounding up: 0.3 USD is 300 credits.
	return int64(math.Ceil(math.Round(cost*s.cfg.CreditsPerUnit*1e6) / 1e6))
}

// ---- gateway.Accountant ----

// Admit implements gateway.Accountant: identity, budget, rate limits, then
// credits (a call outside a job reserves a job's credits for itself).
func (s *Service) Admit(ctx context.Context, req *stream.Request) (gateway.Admission, error) {
	if e := AuthError(ctx); e != nil {
		return nil, e
	}
	id, ok := FromContext(ctx)
	if !ok && s.cfg.Auth {
		return nil, stream.Errorf(stream.CodeUnauthorized, "missing API key: send Authorization: Bearer KEY or X-API-Key: KEY")
	}
	now := s.cfg.Now()
	a := &admission{s: s, id: id, team: id.TeamID, reqModel: req.Model}
	a.outcome, _ = ctx.Value(outcomeKey).(*Outcome)
	if j := jobFromContext(ctx); j != nil {
		// The job's team pays and is limited, whoever the caller is (the
		// admin key or, with auth off, anyone may call in any job).
		if !visible(id, j.TeamID) {
			return nil, stream.Errorf(stream.CodeNotFound, "job %s not found", j.ID)
		}
		if !j.Status.Open() {
			return nil, jobSettled(j.ID)
		}
		a.jobID, a.team = j.ID, j.TeamID
	}
	if a.team == "" {
		// Admin or anonymous outside a job: nothing to charge, still recorded.
		return a, nil
	}
	// Nothing below writes to the store: the first token waits for no
	// commit. Job calls were paid for when the job reserved its credits;
	// plain calls are checked against the free balance less what calls in
	// flight in this process will deduct, and deducted with their record.
	var team Team
	readAt := id.teamReadAt
	if id.team != nil && id.team.ID == a.team && time.Since(readAt) < snapshotTTL {
		team = *id.team
	} else {
		readAt = time.Now()
		t, err := s.store.Team(ctx, a.team)
		if err != nil {
			return nil, internal(err)
		}
		team = t
	}
	// The spend as of now: the snapshot's, plus what calls recorded here
	// since it was read added.
	spent := team.Spent + s.pending.spentSince(team.ID, readAt)
	if team.MaxBudget > 0 && spent >= team.MaxBudget {
		return nil, stream.Errorf(stream.CodeInsufficientCredit, "team budget of %g is spent", team.MaxBudget)
	}
	a.scopes = s.scopes(id, team)
	if a.jobID == "" {
		a.charge = s.cfg.JobCredits
		if !s.pending.take(team.ID, team.Free(), readAt, a.charge) {
			return nil, stream.Errorf(stream.CodeInsufficientCredit, "team %s has fewer than %d free credits", team.ID, a.charge)
		}
	}
	warnings, lerr := s.lim.Admit(ctx, now, a.scopes)
	if lerr != nil {
		s.pending.settle(team.ID, a.charge, 0, 0, time.Now())
		return nil, &stream.Error{Code: stream.CodeRateLimited, Message: lerr.What + " reached; retry in " + lerr.RetryAfter.String(), RetryAfter: lerr.RetryAfter}
	}
	if team.MaxBudget > 0 && spent >= 0.8*team.MaxBudget {
		warnings = append(warnings, fmt.Sprintf("team has spent %.4g of its budget of %g", spent, team.MaxBudget))
	}
	a.warnings = warnings
	return a, nil
}

// ledger keeps plain calls' credits exact within a process without a
// store write on admission. Admission checks a team snapshot read with the
// key; the ledger subtracts what that snapshot cannot show: credits held by
// calls in flight, and credits deducted by calls whose records committed
// after the snapshot was read.
type ledger struct {
	mu      sync.Mutex
	pending map[string]int64
	settled map[string][]settledCharge
}

type settledCharge struct {
	at   time.Time
	n    int64
	cost float64 // added to the team's spend
}

// snapshotTTL bounds how old a team snapshot may be; older ones are read
// again. Settled charges are kept a little longer than that.
const snapshotTTL = time.Second

func (l *ledger) take(team string, free int64, readAt time.Time, n int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := l.pending[team]
	for _, c := range l.settled[team] {
		if !c.at.Before(readAt) {
			held += c.n
		}
	}
	if free-held < n {
		return false
	}
	if l.pending == nil {
		l.pending = map[string]int64{}
	}
	l.pending[team] += n
	return true
}

// spentSince is what team's calls recorded since readAt added to its
// spend, which a snapshot read at readAt does not show.
func (l *ledger) spentSince(team string, readAt time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var spent float64
	for _, c := range l.settled[team] {
		if !c.at.Before(readAt) {
			spent += c.cost
		}
	}
	return spent
}

// settle moves n credits of team from in flight to settled at time at
// (after the record committed; deducted is what the record took, cost
// what it added to the spend).
func (l *ledger) settle(team string, n, deducted int64, cost float64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n != 0 {
		if l.pending[team] -= n; l.pending[team] <= 0 {
			delete(l.pending, team)
		}
	}
	cs := l.settled[team]
	i := 0
	for i < len(cs) && at.Sub(cs[i].at) > 2*snapshotTTL {
		i++
	}
	cs = cs[i:]
	if deducted > 0 || cost > 0 {
		cs = append(cs, settledCharge{at, deducted, cost})
	}
	if len(cs) == 0 {
		delete(l.settled, team)
		return
	}
	if l.settled == nil {
		l.settled = map[string][]settledCharge{}
	}
	l.settled[team] = cs
}

func jobSettled(id string) *stream.Error {
	return stream.Errorf(stream.CodeConflict, "job %s is already settled; create a new job", id)
}

func (s *Service) scopes(id Identity, team Team) []Scope {
	kl, tl := id.KeyLimits, team.Limits
	if kl == (Limits{}) {
		kl = s.cfg.DefaultKeyLimits
	}
	if tl == (Limits{}) {
		tl = s.cfg.DefaultTeamLimits
	}
	var sc []Scope
	if id.KeyID != "" && kl != (Limits{}) {
		sc = append(sc, Scope{ID: "key:" + id.KeyID, Name: "key", Limits: kl})
	}
	if tl != (Limits{}) {
		sc = append(sc, Scope{ID: "team:" + team.ID, Name: "team", Limits: tl})
	}
	return sc
}

type admission struct {
	s        *Service
	id       Identity
	team     string // who pays: the key's team or the job's
	jobID    string
	reqModel string
	scopes   []Scope
	warnings []string
	charge   int64 // credits a plain call deducts if it ends well
	outcome  *Outcome
	done     sync.Once
}

func (a *admission) Warnings() []string { return a.warnings }

// Done writes the record synchronously: the gateway calls it after the
// stream's last bytes went out, so the client waits for nothing, and once
// Done returns the record is committed (it survives kill -9).
func (a *admission) Done(rec *gateway.Record) {
	a.done.Do(func() { a.s.record(a, rec) })
}

func (s *Service) record(a *admission, rec *gateway.Record) {
	c := s.callFromRecord(a, rec)
	if a.charge > 0 && c.Status == "ok" {
		c.Credits = a.charge
		if s.cfg.Charge == ChargeByCost {
			c.Credits = s.costCredits(c.Cost.Total)
		}
	}
	// Job calls are stored before the response ends: completing the job
	// reads them back. Others are journaled, then stored off the path.
	if a.jobID != "" || !s.journalAndQueue(a, c) {
		s.storeCall(a, c)
	}
	s.lim.AddTokens(context.Background(), s.cfg.Now(), a.scopes, c.Usage.Total())
}

// storeCall writes c to the store and settles what its admission held.
func (s *Service) storeCall(a *admission, c Call) error {
	if a.team != "" {
		defer func() { s.pending.settle(a.team, a.charge, c.Credits, c.Cost.Total, time.Now()) }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.store.RecordCall(ctx, &c, nil)
	if errors.Is(err, ErrExists) {
		// Call ids come from the gateway; a clash must not lose a record.
		old := c.ID
		c.ID = newID("call_")
		s.log.Warn("account: call id already recorded; recording under a new id", "call", old, "new", c.ID)
		err = s.store.RecordCall(ctx, &c, nil)
	}
	if err != nil {
		s.log.Error("account: recording call", "call", c.ID, "team", c.TeamID, "err", err)
	}
	if a.outcome != nil {
		a.outcome.set(c.Status, c.ID)
	}
	return err
}

func (s *Service) callFromRecord(a *admission, rec *gateway.Record) Call {
	c := Call{
		ID: rec.ID, TeamID: a.team, KeyID: a.id.KeyID, JobID: a.jobID,
		Provider: rec.Provider, Model: rec.Model, Output: rec.Output, Thinking: rec.Thinking,
		Usage: Usage{InputTokens: int64(rec.Usage.PromptTokens), OutputTokens: int64(rec.Usage.CompletionTokens),
			ReasoningTokens: int64(rec.Usage.ReasoningTokens), Estimated: rec.Usage.Estimated},
		Cost:    Cost(rec.Cost),
		Started: rec.Started.UTC(), TTFT: rec.TTFT, Duration: rec.Duration,
		Finish: string(rec.Finish), Status: rec.Status,
	}
	if c.ID == "" {
		c.ID = newID("call_")
	}
	if c.Started.IsZero() {
		c.Started = s.cfg.Now().UTC()
	}
	if c.Status == "" {
		c.Status = "ok"
		if rec.Err != nil {
			c.Status = "error"
		}
	}
	if rec.Err != nil {
		c.ErrorCode, c.ErrorMsg = string(rec.Err.Code), rec.Err.Message
	}
	if len(rec.ToolCalls) > 0 {
		b, _ := json.Marshal(toolCallsJSON(rec.ToolCalls))
		c.ToolCalls = string(b)
	}
	if rec.Request != nil {
		b, _ := json.Marshal(requestJSON(rec.Request))
		c.Request = string(b)
	}
	if c.Cost == (Cost{}) {
		c.Cost = s.price(rec, a.reqModel)
	}
	return c
}

// price computes a cost from Config.Prices for records that came without.
func (s *Service) price(rec *gateway.Record, asked string) Cost {
	p, ok := s.cfg.Prices[asked]
	if !ok {
		p, ok = s.cfg.Prices[rec.Provider+"/"+rec.Model]
	}
	if !ok {
		p, ok = s.cfg.Prices[rec.Model]
	}
	if !ok {
		return Cost{}
	}
	in := float64(rec.Usage.PromptTokens) * p.InputPerMillion / 1e6
	out := float64(rec.Usage.CompletionTokens) * p.OutputPerMillion / 1e6
	return Cost{Input: in, Output: out, Total: in + out}
}

type msgJSON struct {
	Role       string         `json:"role"`
	Content    string         `json:"content"`
	Name       string         `json:"name,omitempty"`
	Thinking   string         `json:"thinking,omitempty"`
	ToolCalls  []toolCallJSON `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type toolCallJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

func toolCallsJSON(tcs []stream.ToolCall) []toolCallJSON {
	out := make([]toolCallJSON, len(tcs))
	for i, t := range tcs {
		out[i] = toolCallJSON(t)
	}
	return out
}

// requestJSON is the recorded form of a request.
func requestJSON(r *stream.Request) any {
	msgs := make([]msgJSON, len(r.Messages))
	for i, m := range r.Messages {
		msgs[i] = msgJSON{Role: m.Role, Content: m.Content, Name: m.Name, Thinking: m.Thinking, ToolCalls: toolCallsJSON(m.ToolCalls), ToolCallID: m.ToolCallID}
	}
	type tool struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
	tools := make([]tool, len(r.Tools))
	for i, t := range r.Tools {
		tools[i] = tool(t)
	}
	sp := r.Sampling
	return struct {
		Model       string            `json:"model"`
		Messages    []msgJSON         `json:"messages,omitempty"`
		Prompt      string            `json:"prompt,omitempty"`
		MaxTokens   int               `json:"max_tokens,omitempty"`
		Temperature *float64          `json:"temperature,omitempty"`
		TopP        *float64          `json:"top_p,omitempty"`
		TopK        *int              `json:"top_k,omitempty"`
		Seed        *int64            `json:"seed,omitempty"`
		Stop        []string          `json:"stop,omitempty"`
		Tools       []tool            `json:"tools,omitempty"`
		ToolChoice  string            `json:"tool_choice,omitempty"`
		Thinking    bool              `json:"thinking,omitempty"`
		Metadata    map[string]string `json:"metadata,omitempty"`
	}{r.Model, msgs, r.Prompt, sp.MaxTokens, sp.Temperature, sp.TopP, sp.TopK, sp.Seed, sp.Stop, tools, r.ToolChoice, r.Thinking, r.Metadata}
}

func internal(err error) *stream.Error {
	return &stream.Error{Code: stream.CodeInternal, Message: "account store error", Err: err}
}

// clip shortens user input echoed in error messages.
func clip(s string) string {
	if strings.HasPrefix(s, KeyPrefix) {
		return KeyPrefix + "…" // never echo what may be a key
	}
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// SetTeamLimits sets a team's rate limits and budget (0 = none).
func (s *Service) SetTeamLimits(ctx context.Context, teamID string, l Limits, maxBudget float64) (Team, error) {
	if l.RPM < 0 || l.TPM < 0 || maxBudget < 0 || math.IsNaN(maxBudget) || math.IsInf(maxBudget, 0) {
		return Team{}, stream.InvalidParam("max_budget", "limits and budget must be finite and not negative")
	}
	if _, err := s.Team(ctx, teamID); err != nil {
		return Team{}, err
	}
	if err := s.store.SetTeamLimits(ctx, teamID, l, maxBudget); err != nil {
		return Team{}, internal(err)
	}
	s.changed(ctx)
	return s.Team(ctx, teamID)
}

// Teams lists every team, balances showing every call that has ended.
func (s *Service) Teams(ctx context.Context) ([]Team, error) {
	s.written.wait(ctx)
	return s.store.Teams(ctx)
}

// RecentCalls lists recorded calls, newest first (limit 1 to 1000).
func (s *Service) RecentCalls(ctx context.Context, f UsageFilter, limit int) ([]Call, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	s.written.wait(ctx)
	if limit <= 0 || limit > 1000 {
		return nil, stream.InvalidParam("limit", "limit must be 1 to 1000")
	}
	cs, err := s.store.RecentCalls(ctx, f, limit)
	if err != nil {
		return nil, internal(err)
	}
	return cs, nil
}

func checkFilter(f UsageFilter) error {
	if f.TeamID != "" && !ValidTeamID(f.TeamID) {
		return stream.InvalidParam("team_id", "%q is not a team id", clip(f.TeamID))
	}
	if f.KeyID != "" && !ValidID("key", f.KeyID) {
		return stream.InvalidParam("key_id", "%q is not a key id", clip(f.KeyID))
	}
	return nil
}

// Usage reports calls per team, key and model.
func (s *Service) Usage(ctx context.Context, f UsageFilter) ([]UsageRow, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	s.written.wait(ctx)
	rows, err := s.store.Usage(ctx, f)
	if err != nil {
		return nil, internal(err)
	}
	return rows, nil
}

// Ready reports whether the store answers, for /readyz.
func (s *Service) Ready(ctx context.Context) error {
	if _, err := s.store.Team(ctx, "team_aaaaaaaaaaaaaaaa"); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// EnvAuth reports whether RUNNEL_AUTH turns auth on ("1", "true", "yes", "on").
func EnvAuth() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("RUNNEL_AUTH"))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// ConfigFromEnv reads the account settings serve takes from the
// environment: RUNNEL_AUTH, RUNNEL_ADMIN_KEY, RUNNEL_CHARGE ("job" or
// "cost"), RUNNEL_JOB_CREDITS, RUNNEL_CREDITS_PER_UNIT, RUNNEL_JOB_TIMEOUT
// (a duration after which an untouched open job is released) and
// RUNNEL_KEY_RPM, RUNNEL_KEY_TPM, RUNNEL_TEAM_RPM, RUNNEL_TEAM_TPM (default
// limits). Unset variables keep New's defaults.
func ConfigFromEnv() (Config, error) {
	c := Config{Auth: EnvAuth(), AdminKey: os.Getenv("RUNNEL_ADMIN_KEY")}
	var errs []error
	num := func(name string, dst *int64) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a whole number >= 0", name, v))
			}
			*dst = n
		}
	}
	num("RUNNEL_JOB_CREDITS", &c.JobCredits)
	num("RUNNEL_KEY_RPM", &c.DefaultKeyLimits.RPM)
	num("RUNNEL_KEY_TPM", &c.DefaultKeyLimits.TPM)
	num("RUNNEL_TEAM_RPM", &c.DefaultTeamLimits.RPM)
	num("RUNNEL_TEAM_TPM", &c.DefaultTeamLimits.TPM)
	switch v := ChargeMode(os.Getenv("RUNNEL_CHARGE")); v {
	case "", ChargePerJob, ChargeByCost:
		c.Charge = v
	default:
		errs = append(errs, fmt.Errorf("RUNNEL_CHARGE=%q: want job or cost", v))
	}
	if v := os.Getenv("RUNNEL_CREDITS_PER_UNIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			errs = append(errs, fmt.Errorf("RUNNEL_CREDITS_PER_UNIT=%q: want a positive number", v))
		}
		c.CreditsPerUnit = f
	}
	if v := os.Getenv("RUNNEL_JOB_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("RUNNEL_JOB_TIMEOUT=%q: want a positive duration like 1h", v))
		}
		c.AbandonAfter = d
	}
	return c, errors.Join(errs...)
}
