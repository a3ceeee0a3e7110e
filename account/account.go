// Package account is Runnel's paid-API layer: teams hold credits, virtual
// keys belong to teams, work runs as jobs, and every LLM call is recorded
// with its content, usage and cost. Service implements gateway.Accountant.
//
// Storage is behind the Store interface; account/store picks SQLite (the
// embedded default) or PostgreSQL.
package account

import (
	"context"
	"errors"
	"time"
)

// Team holds credits and owns keys and jobs.
type Team struct {
	ID   string
	Name string
	// Credits is the balance; Reserved is the part held by open jobs.
	// Free credits are Credits - Reserved; neither ever goes below zero.
	Credits  int64
	Reserved int64
	// Spent is the total cost of the team's calls; MaxBudget (0 = none)
	// stops new calls once Spent reaches it.
	Spent     float64
	MaxBudget float64
	// BudgetReserved is the worst-case cost held by calls in flight:
	// admission keeps Spent + BudgetReserved within MaxBudget.
	BudgetReserved float64
	Limits         Limits
	Created        time.Time
}

// Free returns the credits not held by open jobs.
func (t Team) Free() int64 { return t.Credits - t.Reserved }

// Limits are per-minute rate limits; 0 means unlimited.
type Limits struct {
	RPM int64 // requests per minute
	TPM int64 // tokens per minute
}

// Key is a virtual key. The key itself is shown once, at creation; only
// its SHA-256 hash and a short prefix (for lookup) are stored.
type Key struct {
	ID      string
	TeamID  string
	Name    string
	Prefix  string
	Hash    []byte // sha256 of the whole key
	Limits  Limits
	Created time.Time
	Revoked time.Time // zero while the key is valid
}

// KeyTeam is a key with its team.
type KeyTeam struct {
	Key  Key
	Team Team
}

// JobStatus is the state of a job.
type JobStatus string

const (
	JobPending    JobStatus = "pending"     // created, no call yet
	JobInProgress JobStatus = "in_progress" // at least one call started
	JobCompleted  JobStatus = "completed"   // settled: credits deducted
	JobFailed     JobStatus = "failed"      // settled: reservation released
	JobExpired    JobStatus = "expired"     // abandoned past the timeout; released
)

// Open reports whether the job still accepts calls and holds a reservation.
func (s JobStatus) Open() bool { return s == JobPending || s == JobInProgress }

// Job is a unit of paid work: it reserves credits when created and settles
// them once, when completed, failed or abandoned.
type Job struct {
	ID       string
	TeamID   string
	KeyID    string
	Type     string
	Status   JobStatus
	Reserved int64 // credits held while open
	Charged  int64 // credits deducted at settlement
	// Implicit jobs wrap a single call made outside the jobs API.
	Implicit  bool
	Created   time.Time
	Updated   time.Time
	Completed time.Time
}

// Call is the stored record of one LLM call.
type Call struct {
	ID        string
	TeamID    string // "" when the caller had no team (auth off, admin)
	KeyID     string
	JobID     string
	Provider  string
	Model     string
	Request   string // the request as JSON
	Output    string
	Thinking  string
	ToolCalls string // JSON array, "" when none
	Usage     Usage
	Cost      Cost
	Started   time.Time
	TTFT      time.Duration
	Duration  time.Duration
	Finish    string
	Status    string // ok, error, cancelled, timeout
	ErrorCode string
	ErrorMsg  string
	// Credits to deduct with the record, for a call made outside a job:
	// at most the team's free credits, so never below zero.
	Credits int64
	// Reservation is the id of what the call's admission holds, released
	// in the record's transaction; not stored.
	Reservation string `json:",omitempty"`
	// Block is the credit block the call was admitted from (not
	// Reservation: a record from a version without blocks must not
	// release a whole block), Held the credits of it the call holds. A
	// call charged Held is recorded inside the block (charged when the
	// block is folded); any other shrinks the block by Held. Not stored.
	Block string `json:",omitempty"`
	Held  int64  `json:",omitempty"`
	// FoldLater says the process that admitted the call folds its block
	// itself once the block has closed and its last call is recorded
	// (blocks.recorded), so a record inside a closed block need not fold
	// it. Not stored, and not kept with a record the store refused: a
	// record stored later folds its block.
	FoldLater bool `json:"-"`
	// Settle, when not nil, settles a job in the record's transaction
	// (Outcome.SettleJob); not stored.
	Settle *Settlement `json:",omitempty"`
}

// Reservation holds credits, and worst-case cost against a team budget,
// for one call in flight. Owner is the process that holds it: while its
// lease runs (Store.RenewLease) the reservation stays; once the lease has
// run out, Store.ReleaseExpired gives it back without charge.
type Reservation struct {
	ID      string
	TeamID  string
	Owner   string
	Credits int64
	Budget  float64
}

// BlockClose says how a credit block closes (Store.CloseBlock): its
// unused credits given back, and the folds that go with it. The close
// is done once: tried again after it was stored (an error on the way
// back), it gives nothing back and folds what is left to fold, so a
// failed give-back can be retried.
type BlockClose struct {
	ID      string   // none: Folds alone
	Credits int64    // given back if ID is open, closing it: those not handed out
	Fold    bool     // fold ID: none of its calls is running
	Folds   []string // other closed blocks to fold, their calls all recorded
	// Held: Credits are those of calls admitted from ID and then
	// refused, given back in all by ID's process so far; the store gives
	// back what it has not of that total, whatever ID's state, leaving
	// it as it is. So tried twice it gives once.
	Held bool
}

// Usage counts tokens.
type Usage struct {
	InputTokens     int64
	OutputTokens    int64
	ReasoningTokens int64
	Estimated       bool
}

// Total is input plus output tokens.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// Cost in the price table's currency.
type Cost struct {
	Input, Output, Total float64
}

// Settlement closes an open job inside the same transaction as a call
// record, for calls made outside the jobs API.
type Settlement struct {
	JobID  string
	Status JobStatus
	Charge int64
}

// UsageFilter selects calls for a usage report. Zero fields match all.
type UsageFilter struct {
	TeamID string
	KeyID  string
	Model  string
	From   time.Time // inclusive
	To     time.Time // exclusive; zero = now
}

// UsageRow aggregates calls per team, key and model.
type UsageRow struct {
	TeamID   string
	KeyID    string
	Model    string
	Calls    int64
	Errors   int64
	Usage    Usage
	Cost     Cost
	Duration time.Duration // sum
}

// Totals aggregates the calls of one job.
type Totals struct {
	Calls int64
	Usage Usage
	Cost  Cost
}

// Store keeps teams, keys, jobs and call records. Every method that moves
// credits is atomic on its own: implementations use conditional updates
// inside transactions, never read-modify-write in Go.
type Store interface {
	CreateTeam(ctx context.Context, t Team) error
	Team(ctx context.Context, id string) (Team, error)
	Teams(ctx context.Context) ([]Team, error)
	// AddCredits adds n (which may be negative, but never below the
	// reserved credits) and returns the team after the change.
	AddCredits(ctx context.Context, teamID string, n int64) (Team, error)
	SetTeamLimits(ctx context.Context, teamID string, l Limits, maxBudget float64) error

	CreateKey(ctx context.Context, k Key) error
	// KeysByPrefix returns the keys whose lookup prefix is prefix,
	// revoked ones included.
	KeysByPrefix(ctx context.Context, prefix string) ([]Key, error)
	// AuthKeys is KeysByPrefix with each key's team, in one query: the
	// only store access on the way to a call's first token.
	AuthKeys(ctx context.Context, prefix string) ([]KeyTeam, error)
	Key(ctx context.Context, id string) (Key, error)
	Keys(ctx context.Context, teamID string) ([]Key, error) // "" = all teams
	RevokeKey(ctx context.Context, id string, at time.Time) error

	// CreateJob inserts an open job and reserves j.Reserved credits from
	// its team, or fails with ErrInsufficientCredits and inserts nothing.
	CreateJob(ctx context.Context, j Job) error
	Job(ctx context.Context, id string) (Job, error)
	// StartCall marks an open job in progress, or fails with ErrConflict
	// when it is settled.
	StartCall(ctx context.Context, jobID string, at time.Time) error
	// SettleJob closes an open job with status (completed, failed or
	// expired), releases its reservation and deducts min(charge, what the
	// team can pay). It returns the job and team afterwards and whether
	// this call settled it; settling a settled job changes nothing.
	SettleJob(ctx context.Context, jobID string, status JobStatus, charge int64, at time.Time) (Job, Team, bool, error)
	// StaleJobs lists open jobs not touched since before.
	StaleJobs(ctx context.Context, before time.Time, limit int) ([]string, error)
	JobTotals(ctx context.Context, jobID string) (Totals, error)

	// RecordCall stores c, adds its cost to the team's spend, deducts
	// c.Credits, releases c.Reservation, marks c's job in progress and,
	// when s is not nil, settles s's job, all in one transaction. A call
	// whose id is stored already is not stored or charged again (only its
	// reservation is released) and gets ErrExists.
	RecordCall(ctx context.Context, c *Call, s *Settlement) error
	Calls(ctx context.Context, jobID string) ([]Call, error)
	Call(ctx context.Context, id string) (Call, error)
	Usage(ctx context.Context, f UsageFilter) ([]UsageRow, error)
	// RecentCalls lists the calls f selects, newest first, at most limit.
	RecentCalls(ctx context.Context, f UsageFilter, limit int) ([]Call, error)

	// Reserve holds r's credits and budget atomically, or fails with
	// ErrInsufficientCredits or ErrBudgetSpent and holds nothing.
	Reserve(ctx context.Context, r Reservation) error
	// Release gives a reservation back without charge; a released one
	// changes nothing.
	Release(ctx context.Context, id string) error
	// RecordCalls is RecordCall (without settlements) for many calls in
	// one transaction; dup[i] reports that cs[i] was stored before, in
	// which case only its reservation was released.
	RecordCalls(ctx context.Context, cs []*Call) (dup []bool, err error)
	// RenewLease keeps owner's reservations held until until.
	RenewLease(ctx context.Context, owner string, until time.Time) error
	// DropLease releases what owner still holds, except what keep (when
	// not nil) keeps, and ends its lease.
	DropLease(ctx context.Context, owner string, keep func(owner, reservation string) bool) error
	// ReleaseExpired releases the reservations of owners whose lease is
	// over at now, except those keep (when not nil) says to keep, and
	// returns how many it released.
	ReleaseExpired(ctx context.Context, now time.Time, keep func(owner, reservation string) bool) (int, error)

	// TakeBlock holds, as block r.ID of r.Owner, up to r.Credits of the
	// team's free credits for calls admitted in memory (see Config.
	// CreditBlocks): at most a share-th of the free credits, none when
	// fewer than floor are free or the team has a budget, atomically as
	// Reserve. It returns the credits held. A block is a reservation
	// for the lease rules: released with its owner's lease.
	TakeBlock(ctx context.Context, r Reservation, share, floor int64) (int64, error)
	// ReturnBlock closes a block, gives back n of its credits (those
	// not handed out) and charges the team what the calls recorded
	// inside it were charged; records of its calls still running fold
	// the rest. Team reads count calls recorded inside a block as
	// charged at once. A block closed already gives nothing back: a
	// close is stored once, however often it is tried.
	ReturnBlock(ctx context.Context, id string, n int64) error
	// CloseBlock is ReturnBlock(c.ID, c.Credits), folding c.ID only if
	// c.Fold (a block whose calls are still running is folded after the
	// last of them, by its process or a record of it), and folding the
	// blocks c.Folds (their calls all recorded; not closed by it) in the
	// same transaction. With c.Held, c.Credits are the total of refused
	// calls' credits given back, whatever c.ID's state (the part not
	// given back yet is).
	CloseBlock(ctx context.Context, c BlockClose) error
	// RollBlock is CloseBlock(c) and TakeBlock(r, share, floor) in one
	// transaction: the next block as the last closes. If it fails,
	// neither is done.
	RollBlock(ctx context.Context, c BlockClose, r Reservation, share, floor int64) (int64, error)
	// OpenBlocks reports whether a process other than owner holds an
	// open block of team.
	OpenBlocks(ctx context.Context, team, owner string) (bool, error)
	// Want counts a refusal of team's calls or jobs for credits that
	// other processes' open blocks may hold; Wanted reads that count
	// (a point read, no transaction).
	Want(ctx context.Context, team string) error
	Wanted(ctx context.Context, team string) (int64, error)

	Close() error
}

// Errors stores return; callers branch on them with errors.Is.
var (
	ErrNotFound            = errors.New("not found")
	ErrExists              = errors.New("already exists")
	ErrInsufficientCredits = errors.New("insufficient credits")
	ErrConflict            = errors.New("conflict")
	ErrBudgetSpent         = errors.New("budget spent")
)
