package account

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// Admission: a call is served only once what it may cost is held in the
// store, atomically against every other call of its team in any process:
// in a credit block this process holds (blocks.go), or reserved for it
// alone.
// A call outside a job reserves its credits (Config.JobCredits); a call of
// a team with a budget also reserves its worst-case cost (worstCost). Job
// calls were paid for when the job reserved its credits. The reservation
// is released in the transaction that stores the call's record, which
// deducts the exact charge; one whose process died is released, uncharged,
// when that process's lease ends (Config.Lease).

// snapshotTTL bounds how old the team snapshot read with a key may be
// where a change to it may come unannounced (a budget team's Spent; a
// lookup made while the change view is down; keyCache, keyTTL otherwise);
// admission uses it only for limits, whether the team has a budget and
// the budget warning, never for balances.
const snapshotTTL = time.Second

// Admit implements gateway.Accountant: identity, then the reservation of
// credits and budget, then rate limits.
func (s *Service) Admit(ctx context.Context, req *stream.Request) (gateway.Admission, error) {
	var id Identity
	if err := s.caller(ctx, &id); err != nil {
		return nil, err
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
	// One bound for all of the call's store work (its key's lookup has
	// its own): a team read, a take it waits for and its reservation do
	// not each get their own.
	until := time.Now().Add(storeWait)
	var team Team
	if err := s.teamOf(ctx, &id, a.team, &team, until); err != nil {
		return nil, err
	}
	a.scopes = s.appendScopes(a.scopeBuf[:0], id, team)

	r := Reservation{TeamID: team.ID, Owner: s.owner}
	if a.jobID == "" {
		r.Credits = s.cfg.JobCredits
		a.charge = r.Credits
	}
	if team.MaxBudget > 0 {
		r.Budget = s.worstCost(req)
	}
	if s.blocks != nil && r.Credits > 0 && team.MaxBudget == 0 {
		if b, ok := s.blocks.admit(ctx, team.ID, r.Credits, id.seen, until); ok {
			a.block, a.blk, a.held = b.id, b, r.Credits
		}
	}
	if a.block == "" && (r.Credits > 0 || team.MaxBudget > 0) {
		// Named only when it is written: an id is 10 bytes from crypto/rand.
		r.ID = newID("res_")
		if err := s.reserve(ctx, r, team, until); err != nil {
			return nil, err
		}
		a.reservation = r.ID
	}
	warnings, lerr := s.lim.Admit(ctx, now, a.scopes)
	if lerr != nil {
		if a.reservation != "" {
			s.release(a.reservation)
		}
		if a.blk != nil {
			s.blocks.unadmit(team.ID, a.blk, a.held)
		}
		return nil, lerr.refusal()
	}
	if team.MaxBudget > 0 && team.Spent >= 0.8*team.MaxBudget {
		warnings = append(warnings, fmt.Sprintf("team has spent %.4g of its budget of %g", team.Spent, team.MaxBudget))
	}
	a.warnings = warnings
	return a, nil
}

// caller reads into *id the identity ctx carries, or returns the error
// that refuses it: a key that failed authentication, or none where auth
// is on. (Written through pointers, as teamOf: the identity and the team
// are copied once, as where the code was Admit's own.)
func (s *Service) caller(ctx context.Context, id *Identity) error {
	if e := AuthError(ctx); e != nil {
		return e
	}
	var ok bool
	if *id, ok = FromContext(ctx); !ok && s.cfg.Auth {
		return stream.Errorf(stream.CodeUnauthorized, "missing API key: send Authorization: Bearer KEY or X-API-Key: KEY")
	}
	return nil
}

// teamOf reads team teamID into *team: as read with id's key while that
// snapshot still serves (Identity.teamUntil), else from the store by until.
func (s *Service) teamOf(ctx context.Context, id *Identity, teamID string, team *Team, until time.Time) error {
	if id.team != nil && id.team.ID == teamID && time.Now().Before(id.teamUntil) {
		*team = *id.team
		return nil
	}
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	t, err := s.store.Team(ctx, teamID)
	if errors.Is(err, ErrNotFound) {
		return stream.Errorf(stream.CodeNotFound, "team %s not found", teamID)
	}
	if err != nil {
		return s.internal(err)
	}
	*team = t
	return nil
}

// reserve holds r in the store by until, or says in the error why it
// cannot. A client that goes away must not cancel the write half-way: it
// could commit unseen and stay held while this process's lease runs.
func (s *Service) reserve(ctx context.Context, r Reservation, team Team, until time.Time) error {
	wctx := ctx
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), until)
	defer cancel()
	// The wait for credits parked in blocks lasts as long as the caller
	// waits; each write may not be cut short.
	err := s.retryParked(wctx, r.TeamID, func() error { return s.store.Reserve(ctx, r) })
	switch {
	case err == nil:
		s.failing.ok()
		return nil
	case errors.Is(err, ErrInsufficientCredits):
		return stream.Errorf(stream.CodeInsufficientCredit, "team %s has fewer than %d free credits", team.ID, r.Credits)
	case errors.Is(err, ErrBudgetSpent):
		if r.Budget > 0 {
			return stream.Errorf(stream.CodeInsufficientCredit, "team budget of %g cannot cover this call's worst-case cost of %.6g (max_tokens at the model's price) beside the calls in flight", team.MaxBudget, r.Budget)
		}
		return stream.Errorf(stream.CodeInsufficientCredit, "team budget of %g is spent", team.MaxBudget)
	case errors.Is(err, ErrNotFound):
		return stream.Errorf(stream.CodeNotFound, "team %s not found", team.ID)
	default:
		// It may have committed before it failed (a timeout on the way
		// back): give it back, whatever happened.
		s.release(r.ID)
		return s.internal(err)
	}
}

// release gives back a reservation whose call was refused after it was
// made; if the store fails, the lease releases it later.
func (s *Service) release(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.store.Release(ctx, id); err != nil {
		s.failing.failed("account: releasing a refused call's reservation; its lease will", err, "reservation", id)
	}
}

// renewLease keeps this process's reservations held for another Lease and
// releases those of processes whose lease ran out.
func (s *Service) renewLease(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Lease/3)
	defer cancel()
	now := s.cfg.Now()
	if s.cfg.Shared != nil {
		// In Redis too: a lease this process cannot renew in the store
		// (unreachable to it alone) must not free credits its calls use.
		if err := s.cfg.Shared.Heartbeat(ctx, s.owner, s.cfg.Lease); err != nil {
			s.log.Warn("account: renewing this process's heartbeat in Redis", "err", err)
		}
	}
	if err := s.store.RenewLease(ctx, s.owner, now.Add(s.cfg.Lease)); err != nil {
		s.failing.failed("account: renewing this process's reservation lease", err)
	} else {
		s.failing.ok()
	}
	kept := s.keptHolds(ctx)
	n, err := s.store.ReleaseExpired(ctx, now, kept.keep)
	if err != nil {
		s.log.Warn("account: releasing the reservations of stopped processes", "err", err)
	} else if n > 0 {
		s.log.Info("account: released the reservations of a process whose lease ended, uncharged", "reservations", n)
	}
	kept.log(s.log, "the reservations of stopped processes")
	// This process's own records, kept in its local journal alone, while
	// it holds their reservations.
	s.retryLocal()
}

// worstCost is the most req can cost: every input byte a token (byte-level
// tokenizers never make more; 512 more for templates and provider-side
// prompts) and max_tokens of output, at its model's price, or at the
// highest price known when the model is not priced by the name asked (the
// route decides later). A request without max_tokens gets
// Config.BudgetMaxTokens, so that the bound holds.
func (s *Service) worstCost(req *stream.Request) float64 {
	p, ok := s.cfg.Prices[req.Model]
	if !ok {
		p, ok = s.cfg.Prices[trimQuery(req.Model)]
	}
	if !ok {
		for _, q := range s.cfg.Prices {
			p.InputPerMillion = math.Max(p.InputPerMillion, q.InputPerMillion)
			p.OutputPerMillion = math.Max(p.OutputPerMillion, q.OutputPerMillion)
		}
	}
	if p.InputPerMillion == 0 && p.OutputPerMillion == 0 {
		return 0
	}
	if req.Sampling.MaxTokens <= 0 {
		req.Sampling.MaxTokens = s.cfg.BudgetMaxTokens
	}
	in := 512 + len(req.Prompt)
	for _, m := range req.Messages {
		in += 8 + len(m.Role) + len(m.Content) + len(m.Name) + len(m.Thinking) + len(m.ToolCallID)
		for _, tc := range m.ToolCalls {
			in += 8 + len(tc.ID) + len(tc.Name) + len(tc.Arguments)
		}
	}
	for _, t := range req.Tools {
		in += 8 + len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	return float64(in)*p.InputPerMillion/1e6 + float64(req.Sampling.MaxTokens)*p.OutputPerMillion/1e6
}

func trimQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

func jobSettled(id string) *stream.Error {
	return stream.Errorf(stream.CodeConflict, "job %s is already settled; create a new job", id)
}

func (s *Service) scopes(id Identity, team Team) []Scope { return s.appendScopes(nil, id, team) }

// appendScopes appends the scopes id's calls are limited in to sc.
func (s *Service) appendScopes(sc []Scope, id Identity, team Team) []Scope {
	kl, tl := id.KeyLimits, team.Limits
	if kl == (Limits{}) {
		kl = s.cfg.DefaultKeyLimits
	}
	if tl == (Limits{}) {
		tl = s.cfg.DefaultTeamLimits
	}
	var made scopeIDs // with the key's lookup
	if id.scopes != nil {
		made = *id.scopes
	}
	if id.KeyID != "" && kl != (Limits{}) {
		sc = append(sc, Scope{ID: scopeID(made.key, "key:", id.KeyID), Name: "key", Limits: kl})
	}
	if tl != (Limits{}) {
		// Not the lookup's when the team is not the key's (a job's).
		sc = append(sc, Scope{ID: scopeID(made.team, "team:", team.ID), Name: "team", Limits: tl})
	}
	return sc
}

// scopeID is the rate-limit scope id kind+id: made, if that is it.
func scopeID(made, kind, id string) string {
	if len(made) == len(kind)+len(id) && made[len(kind):] == id {
		return made
	}
	return kind + id
}

type admission struct {
	s           *Service
	id          Identity
	team        string // who pays: the key's team or the job's
	jobID       string
	reqModel    string
	scopes      []Scope
	scopeBuf    [2]Scope // scopes' array: the key's and the team's
	warnings    []string
	charge      int64  // credits a plain call deducts if it ends well
	reservation string // what the store holds for the call, or ""
	block       string // or the credit block it was admitted from
	blk         *block // (that block)
	held        int64  // and the credits of it the call holds
	outcome     *Outcome
	done        sync.Once
}

func (a *admission) Warnings() []string { return a.warnings }

// Done stores the record (see record): the gateway calls it after the
// stream's last event and before its final bytes go out, so once the
// client has read the whole response the record is committed in the
// store, by whichever process served it.
func (a *admission) Done(rec *gateway.Record) {
	a.done.Do(func() { a.s.record(a, rec) })
}
