package account

import (
	"context"
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
	// DrainEvery is how often the shared journal is drained into the
	// store (default 2s; an EXISTS while it is empty).
	DrainEvery time.Duration

	// DefaultKeyLimits and DefaultTeamLimits apply where a key or team has
	// no limits of its own.
	DefaultKeyLimits  Limits
	DefaultTeamLimits Limits

	// Limiter keeps the rate-limit counts: in process when nil, or shared
	// between processes (account/redislimit, with REDIS_URL).
	Limiter Limiter

	// Prices, for calls whose record arrives without a cost.
	Prices gateway.Prices

	// Journal is the path of a local file that keeps the records the
	// store refused (it was down), for the next process on this data
	// directory to store (see account/journal). Records are stored before
	// each response ends; the journal is only the fallback. The process
	// that owns it (the server while it runs) replays what an earlier
	// owner left, including journals of versions that journaled every
	// record.
	Journal string
	// Shared keeps the records the store refused where every process
	// reaches them (account/redisjournal, with REDIS_URL), so that they
	// do not depend on this process's disk; every process drains it into
	// the store. The local journal is still written, as a second copy.
	Shared SharedJournal
	// JournalReplayOnly stores what the journal holds and lets go of it:
	// for admin commands, which make no calls and must not keep a
	// starting server from owning it.
	JournalReplayOnly bool

	// Lease is how long this process's reservations stay held after it
	// last renewed them (every Lease/3): after it dies, at most Lease plus
	// Lease/3 until another process (or its own restart) releases them,
	// uncharged. Default 30s (RUNNEL_RESERVATION_LEASE).
	Lease time.Duration
	// CreditBlocks admits calls of teams without a budget from blocks of
	// credits this process holds in the store, with no store write per
	// call before its first token (see blocks.go); otherwise each call
	// reserves its credits alone. serve turns it on unless
	// RUNNEL_CREDIT_BLOCKS=off.
	CreditBlocks bool
	// BudgetMaxTokens caps calls of teams with a budget that ask for no
	// max_tokens, so that their worst-case cost is known (default 4096).
	BudgetMaxTokens int

	Logger *slog.Logger
	Now    func() time.Time
}

// Service is the account layer. It implements gateway.Accountant.
type Service struct {
	store Store
	cfg   Config
	lim   Limiter
	keys  *keyCache
	log   *slog.Logger
	// failing logs the store's failures, not one line a request.
	failing storeLog

	// owner names this process's reservations (see Config.Lease).
	owner string
	// blocks admits calls from credit blocks (Config.CreditBlocks).
	blocks *blocks
	// batch stores records in group commits; journal keeps those the
	// store refused (Config.Journal).
	batch   *batcher
	journal *journal.Journal
	// jmu orders appends to journal with its replays; localHeld are the
	// holds (PendingHolds) of records kept in it alone.
	jmu       sync.Mutex
	localHeld map[string]bool

	stopOnce sync.Once
	stop     chan struct{}
	swept    chan struct{}
	drains   sync.WaitGroup // drainLoop, when there is a shared journal
}

var (
	_ gateway.Accountant    = (*Service)(nil)
	_ gateway.CountAdmitter = (*Service)(nil)
)

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
	if cfg.DrainEvery <= 0 {
		cfg.DrainEvery = drainEvery
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.BudgetMaxTokens <= 0 {
		cfg.BudgetMaxTokens = 4096
	}
	if cfg.Limiter == nil {
		cfg.Limiter = newMemLimiter()
	}
	s := &Service{store: st, cfg: cfg, lim: cfg.Limiter, keys: newKeyCache(st), log: cfg.Logger, stop: make(chan struct{}), swept: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.failing = storeLog{log: s.log, now: cfg.Now}
	s.owner = newID("own_")
	if cfg.Journal != "" {
		s.openJournal(cfg.Journal)
	}
	if !cfg.JournalReplayOnly {
		if cfg.CreditBlocks {
			s.blocks = newBlocks(s)
		}
		s.batch = newBatcher(st, s.log)
		s.renewLease(context.Background())
	}
	go s.sweepLoop()
	if s.batch != nil && cfg.Shared != nil {
		s.drains.Go(s.drainLoop)
	}
	return s
}

// Logger is where the service logs.
func (s *Service) Logger() *slog.Logger { return s.log }

// Store returns the service's store.
func (s *Service) Store() Store { return s.store }

// Config returns the configuration in effect (defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// Close stops the sweeper, stores the records in flight (and, if the
// store takes them now, those in the local journal alone), ends its
// heartbeat, releases what this process still holds (calls admitted and
// never ended; not those whose records wait in Redis, which their records
// release) and closes the store.
func (s *Service) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.swept
	s.drains.Wait()
	if s.batch != nil {
		s.batch.close()
		if s.blocks != nil {
			// Their calls are recorded: what is left is unused.
			s.blocks.close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.retryLocal()
		if s.cfg.Shared != nil {
			// Stopped: what it still holds is kept only for records.
			s.cfg.Shared.Heartbeat(ctx, s.owner, 0)
		}
		kept := s.keptHolds(ctx)
		if err := s.store.DropLease(ctx, s.owner, kept.keep); err != nil {
			s.log.Warn("account: releasing this process's reservations; they go when its lease ends", "err", err)
		}
		kept.log(s.log, "the reservations of this process")
		cancel()
	}
	if s.journal != nil {
		s.journal.Close()
	}
	return s.store.Close()
}

func (s *Service) sweepLoop() {
	defer close(s.swept)
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	lease := time.NewTicker(s.cfg.Lease / 3)
	defer lease.Stop()
	if s.batch == nil {
		lease.Stop() // holds no reservations
	}
	for {
		select {
		case <-s.stop:
			return
		case <-lease.C:
			s.renewLease(context.Background())
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
// touched for AbandonAfter, but those whose call's record waits to be
// stored (keptHolds): that record settles the job with the charge of the
// call it served. It returns how many it settled.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	n := 0
	kept := s.keptHolds(ctx)
	defer kept.log(s.log, "jobs past their timeout")
	skip := map[string]bool{}
	for {
		ids, err := s.store.StaleJobs(ctx, now.Add(-s.cfg.AbandonAfter), 100+len(skip))
		if err != nil || len(ids) == 0 {
			return n, err
		}
		fresh := 0
		for _, id := range ids {
			if skip[id] {
				continue
			}
			fresh++
			if kept.keepJob(id) {
				skip[id] = true
				continue
			}
			_, _, settled, err := s.store.SettleJob(ctx, id, JobExpired, 0, now)
			if err != nil {
				return n, err
			}
			if settled {
				n++
			}
		}
		if len(ids) < 100+len(skip) || fresh == 0 {
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
		return Team{}, s.internal(err)
	}
	return t, nil
}

// Team returns a team, 404 as a *stream.Error.
func (s *Service) Team(ctx context.Context, id string) (Team, error) {
	if !ValidTeamID(id) {
		return Team{}, stream.InvalidParam("team_id", "%q is not a team id (team_ and 16 characters, or a slug like acme-corp)", clip(id))
	}
	t, err := s.store.Team(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Team{}, stream.Errorf(stream.CodeNotFound, "team %s not found", id)
	}
	if err != nil {
		return Team{}, s.internal(err)
	}
	return t, nil
}

// CreateKey creates a key for a team and returns it: the only time the
// whole key exists outside the caller.
func (s *Service) CreateKey(ctx context.Context, teamID, name string, limits Limits) (string, Key, error) {
	if _, err := s.Team(ctx, teamID); err != nil {
		return "", Key{}, err
	}
	if err := limits.check(); err != nil {
		return "", Key{}, err
	}
	secret := newKey()
	k := Key{ID: newID("key_"), TeamID: teamID, Name: name, Prefix: LookupPrefix(secret), Hash: hashKey(secret), Limits: limits, Created: s.cfg.Now().UTC()}
	if err := s.store.CreateKey(ctx, k); err != nil {
		return "", Key{}, s.internal(err)
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
			return Key{}, s.internal(err)
		}
	case LookupPrefix(keyOrPrefix) != "":
		prefix := LookupPrefix(keyOrPrefix)
		ks, err := s.store.KeysByPrefix(ctx, prefix)
		if err != nil {
			return Key{}, s.internal(err)
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
		return Key{}, s.internal(err)
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
	var t Team
	add := func() (err error) { t, err = s.store.AddCredits(ctx, teamID, n); return err }
	if n < 0 {
		// Credits parked in blocks (this process's or others') are
		// given back for a removal as for a call.
		err = s.retryParked(ctx, teamID, add)
	} else {
		err = add()
	}
	if errors.Is(err, ErrInsufficientCredits) {
		// Reservations are held by open jobs and, since admission reserves
		// per call, by calls in flight too.
		return Team{}, &stream.Error{Code: stream.CodeConflict, Param: "amount",
			Message: fmt.Sprintf("amount %d would take the balance below the credits reserved by open jobs and calls in flight", n)}
	}
	if err != nil {
		return Team{}, s.internal(err)
	}
	s.changed(ctx)
	return t, nil
}

// changed announces a committed change to keys or teams: cached key
// lookups, here and in other processes, are read again. An announcement
// that fails is tried again after announcePauses, even if ctx ends (the
// change is committed): a NOTIFY or a marker write that fails right after
// a commit mostly fails for a moment, and a change not heard is served
// from other processes' cached lookups until they expire (keyTTL: a
// revoked key would still be let in). If every try fails, that bound is
// what is left, and it is logged.
func (s *Service) changed(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
	defer cancel()
	if err := s.announceAgain(ctx, s.keys.changed(ctx)); err != nil {
		s.log.Warn("account: announcing a change to keys or teams; other processes see it within their key lookups' age", "err", err, "age", keyTTL)
	}
}

// announceAgain tries an announcement that failed with err again after
// each of announcePauses while ctx lasts, and returns the last try's
// error (nil once one is heard).
func (s *Service) announceAgain(ctx context.Context, err error) error {
	for _, pause := range announcePauses {
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		err = s.keys.announce(ctx)
	}
	return err
}

// announcePauses are the pauses before each new try of a change's
// announcement (a var for tests).
var announcePauses = []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 800 * time.Millisecond}

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
	err := s.retryParked(ctx, team, func() error { return s.store.CreateJob(ctx, j) })
	switch {
	case errors.Is(err, ErrInsufficientCredits):
		return Job{}, stream.Errorf(stream.CodeInsufficientCredit, "team %s has fewer than %d free credits", team, j.Reserved)
	case errors.Is(err, ErrNotFound):
		return Job{}, stream.Errorf(stream.CodeNotFound, "team %s not found", team)
	case err != nil:
		return Job{}, s.internal(err)
	}
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
		return Job{}, s.internal(err)
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
		return Job{}, Team{}, s.internal(err)
	}
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
		return 0, s.internal(err)
	}
	return s.costCredits(tot.Cost.Total), nil
}

func (s *Service) costCredits(cost float64) int64 {
	// Round away float noise before rounding up: 0.3 USD is 300 credits.
	return int64(math.Ceil(math.Round(cost*s.cfg.CreditsPerUnit*1e6) / 1e6))
}

// internal is the error a caller gets when the accounting store fails: a
// store slow or down (a timeout, a lost connection; the drivers' errors
// for it differ) is no bug of the caller's nor, mostly, of Runnel's, and
// a call it refuses can only be sent again. So it is a 503 with
// Retry-After in every dialect (stream.CodeUnavailable), naming nothing
// of the store; the cause goes to the log.
func (s *Service) internal(err error) *stream.Error {
	s.failing.failed("account: the store failed; answering 503", err)
	return &stream.Error{Code: stream.CodeUnavailable, Message: "the accounting store is unavailable just now; retry", RetryAfter: storeRetryAfter, Err: err}
}

// storeRetryAfter is the Retry-After of a call refused because the
// accounting store failed.
const storeRetryAfter = time.Second

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

// check refuses negative limits, naming the field as the admin API does.
func (l Limits) check() *stream.Error {
	switch {
	case l.RPM < 0:
		return stream.InvalidParam("rpm_limit", "rpm_limit must not be negative, not %d", l.RPM)
	case l.TPM < 0:
		return stream.InvalidParam("tpm_limit", "tpm_limit must not be negative, not %d", l.TPM)
	}
	return nil
}

// SetTeamLimits sets a team's rate limits and budget (0 = none).
func (s *Service) SetTeamLimits(ctx context.Context, teamID string, l Limits, maxBudget float64) (Team, error) {
	if err := l.check(); err != nil {
		return Team{}, err
	}
	if maxBudget < 0 || math.IsNaN(maxBudget) || math.IsInf(maxBudget, 0) {
		return Team{}, stream.InvalidParam("max_budget", "max_budget must be finite and not negative")
	}
	if _, err := s.Team(ctx, teamID); err != nil {
		return Team{}, err
	}
	if err := s.store.SetTeamLimits(ctx, teamID, l, maxBudget); err != nil {
		return Team{}, s.internal(err)
	}
	s.changed(ctx)
	return s.Team(ctx, teamID)
}

// Teams lists every team, balances showing every call that has ended.
func (s *Service) Teams(ctx context.Context) ([]Team, error) {
	return s.store.Teams(ctx)
}

// RecentCalls lists recorded calls, newest first (limit 1 to 1000).
func (s *Service) RecentCalls(ctx context.Context, f UsageFilter, limit int) ([]Call, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		return nil, stream.InvalidParam("limit", "limit must be 1 to 1000")
	}
	cs, err := s.store.RecentCalls(ctx, f, limit)
	if err != nil {
		return nil, s.internal(err)
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
	rows, err := s.store.Usage(ctx, f)
	if err != nil {
		return nil, s.internal(err)
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
// (a duration after which an untouched open job is released),
// RUNNEL_RESERVATION_LEASE (Config.Lease), RUNNEL_CREDIT_BLOCKS ("off"
// turns Config.CreditBlocks off; on by default), RUNNEL_BUDGET_MAX_TOKENS and
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
	c.CreditBlocks = true
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv("RUNNEL_CREDIT_BLOCKS"))); v {
	case "", "1", "true", "yes", "on":
	case "0", "false", "no", "off":
		c.CreditBlocks = false
	default:
		errs = append(errs, fmt.Errorf("RUNNEL_CREDIT_BLOCKS=%q: want on or off", v))
	}
	if v := os.Getenv("RUNNEL_RESERVATION_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 300*time.Millisecond {
			errs = append(errs, fmt.Errorf("RUNNEL_RESERVATION_LEASE=%q: want a duration of at least 300ms, like 30s", v))
		}
		c.Lease = d
	}
	var maxTokens int64
	num("RUNNEL_BUDGET_MAX_TOKENS", &maxTokens)
	c.BudgetMaxTokens = int(min(maxTokens, 1<<30))
	if v := os.Getenv("RUNNEL_JOB_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("RUNNEL_JOB_TIMEOUT=%q: want a positive duration like 1h", v))
		}
		c.AbandonAfter = d
	}
	return c, errors.Join(errs...)
}
