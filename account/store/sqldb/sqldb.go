// Package sqldb implements account.Store over database/sql with SQL that
// runs unchanged on SQLite and PostgreSQL, and the embedded, versioned
// migrations both share. Packages sqlite and postgres open the database
// and hand it here.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/account"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options describe the database behind a Store.
type Options struct {
	// Write runs every transaction that writes; Read runs queries. They
	// may be the same pool. SQLite uses a single writer connection.
	Write, Read *sql.DB
	// Migrator, when set, runs the migrations on one connection of Write
	// under its session lock, and builds each migration's indexes there,
	// outside its transaction, without blocking writes to their tables
	// (PostgreSQL's). Without one, each migration is a transaction of
	// its own: SQLite's immediate transactions serialize them.
	Migrator Migrator
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(error) bool
	// Retry reports whether a failed transaction may be retried
	// (PostgreSQL serialization failures, SQLite busy).
	Retry func(error) bool
	// MaxVersion stops migrating after that version (0: migrate fully);
	// tests use it to build an old database and upgrade it.
	MaxVersion int
	// WritableCTE says the database runs data-modifying WITH clauses
	// (PostgreSQL): a reservation is then one statement, one round trip,
	// instead of a transaction of two.
	WritableCTE bool
	// RowLocks says the database takes row locks (SELECT … FOR UPDATE:
	// PostgreSQL); SQLite's single writer serializes write transactions.
	RowLocks bool
	// Positional says the database binds ? parameters by position more
	// cheaply than $N ones by name (SQLite): the statements the store
	// prepares are rewritten with ?s (positional.go).
	Positional bool
	// Changes signals changes to keys and teams across processes (see
	// account.Changes); nil when the database offers no way. If it is an
	// io.Closer, Close closes it.
	Changes account.Changes
}

// Migrator serializes migrations across processes and builds their
// indexes without blocking writes (Options.Migrator).
type Migrator interface {
	// Lock takes, for c's session, the lock that keeps other processes
	// from migrating at once. It is given back when c is closed, which
	// ends the session: the store closes c after migrating.
	Lock(ctx context.Context, c *sql.Conn) error
	// BuildIndex builds on c, outside a transaction, the index name that
	// create (a migration's CREATE INDEX statement) makes, without
	// blocking writes to its table; an index of that name that is valid
	// is kept. The migration's transaction then finds it made.
	BuildIndex(ctx context.Context, c *sql.Conn, name, create string) error
}

// Store is an account.Store.
type Store struct {
	o      Options
	stmts  sync.Map // query → *stmt on the read pool
	wstmts sync.Map // query → *stmt on the write pool

	reserving reserveGroup
	// lockBlockQ and lockHeldQ lock a block's row (blocks.go), as the
	// database can.
	lockBlockQ, lockHeldQ string
}

// exec runs a write in tx, through the statement New prepared for q if
// there is one (SQLite's single writer connection keeps it prepared).
// Preparing here would deadlock: the transaction holds the only writer.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st, ok := s.wstmts.Load(q); ok {
		st := st.(*stmt)
		return tx.StmtContext(ctx, st.Stmt).ExecContext(ctx, st.args(args)...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// The writes of every recorded call, prepared once by New.
const (
	insertCall = `INSERT INTO calls (` + callCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
			$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
			ON CONFLICT (id) DO NOTHING`
	addSpent     = `UPDATE teams SET spent = spent + $2 WHERE id = $1`
	touchJob     = `UPDATE jobs SET updated_at = $2, status = CASE WHEN status = 'pending' THEN 'in_progress' ELSE status END WHERE id = $1`
	deductCredit = `UPDATE teams SET credits = credits - $2 WHERE id = $1`
	// lockTeam is a no-op update that locks the team row (PostgreSQL)
	// before its free credits are read.
	lockTeam = `UPDATE teams SET reserved = reserved WHERE id = $1 RETURNING credits - reserved`
)

// queryRowTx is exec for a write that returns a row.
func (s *Store) queryRowTx(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st, ok := s.wstmts.Load(q); ok {
		st := st.(*stmt)
		return tx.StmtContext(ctx, st.Stmt).QueryRowContext(ctx, st.args(args)...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

// query runs a hot read through a statement prepared once: parsing SQL
// costs SQLite more than running these lookups.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	v, ok := s.stmts.Load(q)
	if !ok {
		p, err := s.prepare(ctx, s.o.Read, q)
		if err != nil {
			return nil, err
		}
		if v, ok = s.stmts.LoadOrStore(q, p); ok {
			p.Close()
		}
	}
	st := v.(*stmt)
	return st.QueryContext(ctx, st.args(args)...)
}

// prepare prepares q on db, rewritten with ?s where Options.Positional
// says so (and q allows).
func (s *Store) prepare(ctx context.Context, db *sql.DB, q string) (*stmt, error) {
	var order []int
	if s.o.Positional {
		if p, o, ok := positional(q); ok {
			q, order = p, o
		}
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &stmt{st, order}, nil
}

// queryRow is query for one row.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) rowScanner {
	rows, err := s.query(ctx, q, args...)
	return rowScanner{rows, err}
}

// rowScanner is *sql.Row's behaviour over *sql.Rows.
type rowScanner struct {
	rows *sql.Rows
	err  error
}

func (r rowScanner) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

var _ account.Store = (*Store)(nil)

// New migrates the database to the newest version and returns the store.
func New(ctx context.Context, o Options) (*Store, error) {
	if o.Read == nil {
		o.Read = o.Write
	}
	if o.IsUnique == nil {
		o.IsUnique = func(error) bool { return false }
	}
	if o.Retry == nil {
		o.Retry = func(error) bool { return false }
	}
	s := &Store{o: o, lockBlockQ: lockBlockRow, lockHeldQ: lockHeldRow}
	if o.RowLocks {
		s.lockBlockQ += ` FOR UPDATE`
		s.lockHeldQ += ` FOR UPDATE`
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if o.MaxVersion == 0 {
		for _, q := range s.writeStatements() {
			st, err := s.prepare(ctx, o.Write, q)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("account store: prepare: %w", err)
			}
			s.wstmts.Store(q, st)
		}
	}
	return s, nil
}

// writeStatements are the statements New prepares on the write pool.
func (s *Store) writeStatements() []string {
	return slices.Concat([]string{insertCall, addSpent, touchJob, deductCredit, reserveTeam, insertReservation, deleteReservation, releaseTeam, lockTeam}, s.bulkStatements(), reserveStatements(), s.blockStatements())
}

// Version implements account.Changes through Options.Changes.
func (s *Store) Version() (uint64, bool) {
	if s.o.Changes == nil {
		return 0, false
	}
	return s.o.Changes.Version()
}

// Changed implements account.Changes through Options.Changes.
func (s *Store) Changed(ctx context.Context) error {
	if s.o.Changes == nil {
		return nil
	}
	return s.o.Changes.Changed(ctx)
}

// Close closes both pools.
func (s *Store) Close() error {
	if c, ok := s.o.Changes.(io.Closer); ok {
		c.Close()
	}
	for _, m := range []*sync.Map{&s.stmts, &s.wstmts} {
		m.Range(func(_, st any) bool { st.(*stmt).Close(); return true })
	}
	err := s.o.Write.Close()
	if s.o.Read != s.o.Write {
		err = errors.Join(err, s.o.Read.Close())
	}
	return err
}

// Versions lists the embedded migration versions in order.
func Versions() ([]int, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var vs []int
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad version: %w", n, err)
		}
		vs = append(vs, v)
	}
	sort.Ints(vs)
	return vs, nil
}

func migrationSQL(v int) (string, error) {
	names, _ := fs.Glob(migrations, fmt.Sprintf("migrations/%04d_*.sql", v))
	if len(names) != 1 {
		return "", fmt.Errorf("migration %d: %d files", v, len(names))
	}
	b, err := migrations.ReadFile(names[0])
	return string(b), err
}

const (
	createMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`
	isApplied   = `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`
	markApplied = `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`
)

// pending is the embedded migrations' versions up to Options.MaxVersion.
func (s *Store) pending() ([]int, error) {
	vs, err := Versions()
	if err != nil {
		return nil, err
	}
	if s.o.MaxVersion > 0 {
		vs = slices.DeleteFunc(vs, func(v int) bool { return v > s.o.MaxVersion })
	}
	return vs, nil
}

// migrate applies, in order and each in its own transaction, every
// migration not yet in schema_migrations. Migrations only ever add: an
// upgrade never drops data.
func (s *Store) migrate(ctx context.Context) error {
	if s.o.Migrator != nil {
		return s.migrateOn(ctx)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, createMigrations)
		return err
	})
	if err != nil {
		return fmt.Errorf("account store: create schema_migrations: %w", err)
	}
	vs, err := s.pending()
	if err != nil {
		return err
	}
	for _, v := range vs {
		q, err := migrationSQL(v)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, isApplied, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, markApplied, v, micros(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("account store: migration %d: %w", v, err)
		}
	}
	return nil
}

// migrateOn is migrate through Options.Migrator: on one connection that
// holds the migration lock from first to last, each migration's indexes
// built first, outside its transaction. A CREATE INDEX in a transaction
// would block every write to its table until the transaction ends
// (PostgreSQL takes a SHARE lock for the build, which a whole calls
// table can take minutes to finish, and queues writers behind it).
func (s *Store) migrateOn(ctx context.Context) error {
	c, err := s.o.Write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("account store: migrate: %w", err)
	}
	// Closed, not given back to the pool: ending the session gives its
	// lock back, whatever failed.
	defer func() {
		c.Raw(func(any) error { return driver.ErrBadConn })
		c.Close()
	}()
	if err := s.o.Migrator.Lock(ctx, c); err != nil {
		return fmt.Errorf("account store: migration lock: %w", err)
	}
	if _, err := c.ExecContext(ctx, createMigrations); err != nil {
		return fmt.Errorf("account store: create schema_migrations: %w", err)
	}
	vs, err := s.pending()
	if err != nil {
		return err
	}
	created := map[string]bool{} // tables this run made: nothing to block
	for _, v := range vs {
		if err := s.migrateOne(ctx, c, v, created); err != nil {
			return fmt.Errorf("account store: migration %d: %w", v, err)
		}
	}
	return nil
}

// migrateOne applies migration v on c (migrateOn), unless it is applied.
// created holds the tables earlier migrations of this run made; v's are
// added.
func (s *Store) migrateOne(ctx context.Context, c *sql.Conn, v int, created map[string]bool) error {
	var n int
	if err := c.QueryRowContext(ctx, isApplied, v).Scan(&n); err != nil || n > 0 {
		return err
	}
	q, err := migrationSQL(v)
	if err != nil {
		return err
	}
	q, builds := indexBuilds(q, created)
	for _, b := range builds {
		if err := s.o.Migrator.BuildIndex(ctx, c, b.name, b.create); err != nil {
			return fmt.Errorf("building index %s: %w", b.name, err)
		}
	}
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, q); err != nil {
		tx.Rollback()
		return err
	}
	if _, err := tx.ExecContext(ctx, markApplied, v, micros(time.Now())); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// indexBuild is a migration's CREATE INDEX statement and the index's name.
type indexBuild struct{ name, create string }

// indexBuilds returns q, a migration, with each CREATE INDEX statement
// on a table that is not in created, nor altered by q, made CREATE INDEX
// IF NOT EXISTS, and those statements, for a Migrator to build first; it
// adds the tables q creates to created. An index on a table made in the
// same run has no rows and no writers to block, so a new database builds
// every index in its migration's transaction; one on a table q alters
// may need what the transaction adds (a column), so it stays there too.
// A statement ends with a ';' at a line's end; a line starting with
// "--" is a comment. CREATE UNIQUE INDEX stays in the transaction: built
// concurrently, a duplicate would leave it invalid.
func indexBuilds(q string, created map[string]bool) (string, []indexBuild) {
	var stmts []string
	var st strings.Builder
	for line := range strings.Lines(q) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		if st.Len() > 0 {
			st.WriteByte('\n')
		}
		st.WriteString(t)
		if strings.HasSuffix(t, ";") {
			stmts = append(stmts, strings.TrimSuffix(st.String(), ";"))
			st.Reset()
		}
	}
	if st.Len() > 0 { // a last statement without its ';'
		stmts = append(stmts, st.String())
	}
	altered := map[string]bool{}
	for _, stmt := range stmts {
		if rest, ok := strings.CutPrefix(stmt, "CREATE TABLE "); ok {
			if f := strings.Fields(strings.TrimPrefix(rest, "IF NOT EXISTS ")); len(f) > 0 {
				created[strings.TrimSuffix(f[0], "(")] = true
			}
		}
		if rest, ok := strings.CutPrefix(stmt, "ALTER TABLE "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				altered[f[0]] = true
			}
		}
	}
	var out strings.Builder
	var builds []indexBuild
	for _, stmt := range stmts {
		if rest, ok := strings.CutPrefix(stmt, "CREATE INDEX "); ok {
			rest = strings.TrimPrefix(rest, "IF NOT EXISTS ")
			// name ON table …
			if f := strings.Fields(rest); len(f) >= 3 && f[1] == "ON" && !created[strings.TrimSuffix(f[2], "(")] && !altered[f[2]] {
				builds = append(builds, indexBuild{f[0], "CREATE INDEX " + rest})
				stmt = "CREATE INDEX IF NOT EXISTS " + rest
			}
		}
		out.WriteString(stmt)
		out.WriteString(";\n")
	}
	return out.String(), builds
}

// tx runs f in a write transaction, retrying transient failures.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		err = s.tx1(ctx, f)
		if err == nil || !s.o.Retry(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	return err
}

func (s *Store) tx1(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.o.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// collect scans every row of rows (or the query error) with scan.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- teams ----

const teamCols = `id, name, credits, reserved, spent, max_budget, rpm_limit, tpm_limit, created_at, budget_reserved`

// teamRead reads team row alias as readers see it: teamCols, then what
// calls charged inside its credit blocks owe that the blocks have not
// folded into the row yet (blocks.go), which scanTeam takes off both its
// credits and its reserved credits (so its free credits are the row's).
func teamRead(alias string) string {
	a := alias + "."
	return a + strings.ReplaceAll(teamCols, ", ", ", "+a) + `,
		CAST(COALESCE((SELECT SUM(c.credits) FROM reservations r JOIN calls c ON CAST(COALESCE(c.block_id, c.job_id) AS TEXT) = r.id WHERE r.team_id = ` + a + `id AND r.block <> 0), 0)
		- COALESCE((SELECT SUM(r.charged) FROM reservations r WHERE r.team_id = ` + a + `id AND r.block <> 0), 0) AS BIGINT)`
}

// selectTeam reads one team by id (teamRead).
var selectTeam = `SELECT ` + teamRead("t") + ` FROM teams t WHERE t.id = $1`

type scanner interface{ Scan(...any) error }

func scanTeam(r scanner) (account.Team, error) {
	var t account.Team
	var created, pending int64
	err := r.Scan(&t.ID, &t.Name, &t.Credits, &t.Reserved, &t.Spent, &t.MaxBudget, &t.Limits.RPM, &t.Limits.TPM, &created, &t.BudgetReserved, &pending)
	if errors.Is(err, sql.ErrNoRows) {
		return t, account.ErrNotFound
	}
	t.Created = fromMicros(created)
	t.Credits -= pending
	t.Reserved -= pending
	return t, err
}

func (s *Store) CreateTeam(ctx context.Context, t account.Team) error {
	_, err := s.o.Write.ExecContext(ctx, `INSERT INTO teams (`+teamCols+`) VALUES ($1, $2, $3, 0, 0, $4, $5, $6, $7, 0)`,
		t.ID, t.Name, t.Credits, t.MaxBudget, t.Limits.RPM, t.Limits.TPM, micros(t.Created))
	if err != nil && s.o.IsUnique(err) {
		return account.ErrExists
	}
	return err
}

func (s *Store) Team(ctx context.Context, id string) (account.Team, error) {
	return scanTeam(s.queryRow(ctx, selectTeam, id))
}

func (s *Store) Teams(ctx context.Context) ([]account.Team, error) {
	rows, err := s.o.Read.QueryContext(ctx, `SELECT `+teamRead("t")+` FROM teams t ORDER BY t.created_at, t.id`)
	return collect(rows, err, scanTeam)
}

func (s *Store) AddCredits(ctx context.Context, teamID string, n int64) (account.Team, error) {
	var t account.Team
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE teams SET credits = credits + $2 WHERE id = $1 AND credits + $2 >= reserved`, teamID, n)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			if _, err := scanTeam(tx.QueryRowContext(ctx, selectTeam, teamID)); err != nil {
				return err
			}
			return account.ErrInsufficientCredits
		}
		t, err = scanTeam(tx.QueryRowContext(ctx, selectTeam, teamID))
		return err
	})
	return t, err
}

func (s *Store) SetTeamLimits(ctx context.Context, teamID string, l account.Limits, maxBudget float64) error {
	res, err := s.o.Write.ExecContext(ctx, `UPDATE teams SET rpm_limit = $2, tpm_limit = $3, max_budget = $4 WHERE id = $1`,
		teamID, l.RPM, l.TPM, maxBudget)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return account.ErrNotFound
	}
	return nil
}

// ---- keys ----

const keyCols = `id, team_id, name, prefix, hash, rpm_limit, tpm_limit, created_at, revoked_at`

func scanKey(r scanner) (account.Key, error) {
	var k account.Key
	var hash string
	var created, revoked int64
	err := r.Scan(&k.ID, &k.TeamID, &k.Name, &k.Prefix, &hash, &k.Limits.RPM, &k.Limits.TPM, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return k, account.ErrNotFound
	}
	if err != nil {
		return k, err
	}
	k.Hash, err = hex.DecodeString(hash)
	k.Created, k.Revoked = fromMicros(created), fromMicros(revoked)
	return k, err
}

func (s *Store) CreateKey(ctx context.Context, k account.Key) error {
	_, err := s.o.Write.ExecContext(ctx, `INSERT INTO api_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)`,
		k.ID, k.TeamID, k.Name, k.Prefix, hex.EncodeToString(k.Hash), k.Limits.RPM, k.Limits.TPM, micros(k.Created))
	if err != nil && s.o.IsUnique(err) {
		return account.ErrExists
	}
	return err
}

func (s *Store) queryKeys(ctx context.Context, q string, args ...any) ([]account.Key, error) {
	rows, err := s.o.Read.QueryContext(ctx, q, args...)
	return collect(rows, err, scanKey)
}

func (s *Store) KeysByPrefix(ctx context.Context, prefix string) ([]account.Key, error) {
	return s.queryKeys(ctx, `SELECT `+keyCols+` FROM api_keys WHERE prefix = $1`, prefix)
}

func (s *Store) AuthKeys(ctx context.Context, prefix string) ([]account.KeyTeam, error) {
	rows, err := s.query(ctx, `SELECT k.id, k.team_id, k.name, k.prefix, k.hash, k.rpm_limit, k.tpm_limit, k.created_at, k.revoked_at,
		`+teamRead("t")+`
		FROM api_keys k JOIN teams t ON t.id = k.team_id WHERE k.prefix = $1`, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []account.KeyTeam
	for rows.Next() {
		var kt account.KeyTeam
		k, t := &kt.Key, &kt.Team
		var hash string
		var kc, kr, tc, pending int64
		if err := rows.Scan(&k.ID, &k.TeamID, &k.Name, &k.Prefix, &hash, &k.Limits.RPM, &k.Limits.TPM, &kc, &kr,
			&t.ID, &t.Name, &t.Credits, &t.Reserved, &t.Spent, &t.MaxBudget, &t.Limits.RPM, &t.Limits.TPM, &tc, &t.BudgetReserved, &pending); err != nil {
			return nil, err
		}
		t.Credits -= pending
		t.Reserved -= pending
		if k.Hash, err = hex.DecodeString(hash); err != nil {
			return nil, err
		}
		k.Created, k.Revoked, t.Created = fromMicros(kc), fromMicros(kr), fromMicros(tc)
		out = append(out, kt)
	}
	return out, rows.Err()
}

func (s *Store) Key(ctx context.Context, id string) (account.Key, error) {
	return scanKey(s.o.Read.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE id = $1`, id))
}

func (s *Store) Keys(ctx context.Context, teamID string) ([]account.Key, error) {
	if teamID == "" {
		return s.queryKeys(ctx, `SELECT `+keyCols+` FROM api_keys ORDER BY created_at, id`)
	}
	return s.queryKeys(ctx, `SELECT `+keyCols+` FROM api_keys WHERE team_id = $1 ORDER BY created_at, id`, teamID)
}

func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.o.Write.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0`, id, micros(at))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Key(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// ---- jobs and credits ----

const jobCols = `id, team_id, key_id, job_type, status, reserved, charged, implicit, created_at, updated_at, completed_at`

func scanJob(r scanner) (account.Job, error) {
	var j account.Job
	var status string
	var implicit int
	var created, updated, completed int64
	err := r.Scan(&j.ID, &j.TeamID, &j.KeyID, &j.Type, &status, &j.Reserved, &j.Charged, &implicit, &created, &updated, &completed)
	if errors.Is(err, sql.ErrNoRows) {
		return j, account.ErrNotFound
	}
	j.Status, j.Implicit = account.JobStatus(status), implicit != 0
	j.Created, j.Updated, j.Completed = fromMicros(created), fromMicros(updated), fromMicros(completed)
	return j, err
}

func (s *Store) CreateJob(ctx context.Context, j account.Job) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The condition makes the reservation atomic: concurrent creates
		// can never hold more than the team's credits.
		res, err := tx.ExecContext(ctx, `UPDATE teams SET reserved = reserved + $2 WHERE id = $1 AND credits - reserved >= $2`, j.TeamID, j.Reserved)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanTeam(tx.QueryRowContext(ctx, selectTeam, j.TeamID)); err != nil {
				return err
			}
			return account.ErrInsufficientCredits
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO jobs (`+jobCols+`) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $8, 0)`,
			j.ID, j.TeamID, j.KeyID, j.Type, string(j.Status), j.Reserved, b2i(j.Implicit), micros(j.Created))
		if err != nil && s.o.IsUnique(err) {
			return account.ErrExists
		}
		return err
	})
}

func (s *Store) Job(ctx context.Context, id string) (account.Job, error) {
	return scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
}

func (s *Store) StartCall(ctx context.Context, jobID string, at time.Time) error {
	res, err := s.o.Write.ExecContext(ctx, `UPDATE jobs SET status = 'in_progress', updated_at = $2 WHERE id = $1 AND status IN ('pending', 'in_progress')`, jobID, micros(at))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Job(ctx, jobID); err != nil {
			return err
		}
		return account.ErrConflict
	}
	return nil
}

func (s *Store) SettleJob(ctx context.Context, jobID string, status account.JobStatus, charge int64, at time.Time) (account.Job, account.Team, bool, error) {
	var (
		j       account.Job
		t       account.Team
		settled bool
	)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		settled, err = settle(ctx, tx, jobID, status, charge, at)
		if err != nil {
			return err
		}
		if j, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, jobID)); err != nil {
			return err
		}
		t, err = scanTeam(tx.QueryRowContext(ctx, selectTeam, j.TeamID))
		return err
	})
	return j, t, settled, err
}

// settle closes an open job inside tx. The conditional update on the job
// row is what makes settling idempotent: of any number of concurrent
// settlements, exactly one sees the job open.
func settle(ctx context.Context, tx *sql.Tx, jobID string, status account.JobStatus, charge int64, at time.Time) (bool, error) {
	if status.Open() {
		return false, fmt.Errorf("settle job: %q is not a final status", status)
	}
	var teamID string
	var reserved int64
	err := tx.QueryRowContext(ctx, `UPDATE jobs SET status = $2, updated_at = $3, completed_at = $3
		WHERE id = $1 AND status IN ('pending', 'in_progress') RETURNING team_id, reserved`,
		jobID, string(status), micros(at)).Scan(&teamID, &reserved)
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE id = $1`, jobID).Scan(&n); err != nil {
			return false, err
		}
		if n == 0 {
			return false, account.ErrNotFound
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if status != account.JobCompleted {
		charge = 0
	}
	// Release the reservation; on PostgreSQL this also locks the team row
	// until commit, so the free balance read here stays true.
	var free int64
	if err := tx.QueryRowContext(ctx, `UPDATE teams SET reserved = reserved - $2 WHERE id = $1 RETURNING credits - reserved`,
		teamID, reserved).Scan(&free); err != nil {
		return false, err
	}
	if charge > free {
		charge = free // never below zero, never into others' reservations
	}
	if charge > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE teams SET credits = credits - $2 WHERE id = $1`, teamID, charge); err != nil {
			return false, err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE jobs SET charged = $2 WHERE id = $1`, jobID, charge)
	return true, err
}

// settleLate completes a job that expired before the record of its call
// was stored (the record came after its hold on the job was let go: see
// account.ErrHoldGone): the call was served, so the team pays for it what
// it can, at most st.Charge. The expiry charged nothing and released the
// job's reservation; the conditional update makes this happen once, and
// only for a record stored for the first time (recordCall).
func settleLate(ctx context.Context, tx *sql.Tx, st *account.Settlement, at time.Time) error {
	if st.Status != account.JobCompleted || st.Charge <= 0 {
		return nil
	}
	var teamID string
	err := tx.QueryRowContext(ctx, `UPDATE jobs SET status = $2, updated_at = $3, completed_at = $3
		WHERE id = $1 AND status = 'expired' RETURNING team_id`, st.JobID, string(account.JobCompleted), micros(at)).Scan(&teamID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var free int64
	if err := tx.QueryRowContext(ctx, lockTeam, teamID).Scan(&free); err != nil {
		return err
	}
	charge := min(st.Charge, max(free, 0))
	if _, err := tx.ExecContext(ctx, deductCredit, teamID, charge); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE jobs SET charged = $2 WHERE id = $1`, st.JobID, charge)
	return err
}

func (s *Store) StaleJobs(ctx context.Context, before time.Time, limit int) ([]string, error) {
	rows, err := s.o.Read.QueryContext(ctx, `SELECT id FROM jobs WHERE status IN ('pending', 'in_progress') AND updated_at < $1 ORDER BY updated_at LIMIT $2`,
		micros(before), limit)
	return collect(rows, err, func(r scanner) (id string, err error) { err = r.Scan(&id); return })
}

func (s *Store) JobTotals(ctx context.Context, jobID string) (account.Totals, error) {
	var t account.Totals
	var est int64
	err := s.o.Read.QueryRowContext(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT),
		CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT), COALESCE(MAX(estimated), 0), COALESCE(SUM(cost_input), 0),
		COALESCE(SUM(cost_output), 0), COALESCE(SUM(cost_total), 0) FROM calls WHERE `+jobCalls, jobID).
		Scan(&t.Calls, &t.Usage.InputTokens, &t.Usage.OutputTokens, &t.Usage.ReasoningTokens, &est, &t.Cost.Input, &t.Cost.Output, &t.Cost.Total)
	t.Usage.Estimated = est != 0
	return t, err
}

// ---- calls ----

// callLink is the expression of the calls_link index (migration 0008):
// a call's block, or else its job. The queries by block or job name it
// as it stands there, for the index to serve them.
const callLink = `CAST(COALESCE(block_id, job_id) AS TEXT)`

// jobCalls selects job $1's calls (its calls have no block_id).
const jobCalls = callLink + ` = $1 AND job_id = $1`

const callCols = `id, team_id, key_id, job_id, provider, model, request, output, thinking, tool_calls,
	input_tokens, output_tokens, reasoning_tokens, estimated, cost_input, cost_output, cost_total,
	started_at, ttft_us, duration_us, finish, status, error_code, error_message, credits`

func (s *Store) RecordCall(ctx context.Context, c *account.Call, st *account.Settlement) error {
	var dup bool
	want := c.Credits
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c.Credits = want
		var err error
		dup, err = s.recordCall(ctx, tx, c, st)
		return err
	})
	if err != nil {
		c.Credits = want
		return err
	}
	if dup {
		return account.ErrExists
	}
	return nil
}

// RecordCalls stores cs in one transaction, in team order so that
// concurrent batches lock team rows in the same order. dup[i] reports that
// cs[i]'s id was already stored: nothing of it was written or charged, its
// reservation released. On error nothing is stored. Job calls are stored
// one by one, the plain calls between them in bulk (recordPlain).
func (s *Store) RecordCalls(ctx context.Context, cs []*account.Call) (dup []bool, err error) {
	order := make([]int, len(cs))
	want := make([]int64, len(cs))
	for i, c := range cs {
		order[i], want[i] = i, c.Credits
	}
	sort.SliceStable(order, func(a, b int) bool { return cs[order[a]].TeamID < cs[order[b]].TeamID })
	dup = make([]bool, len(cs))
	plain := make([]int, 0, len(cs))
	err = s.tx(ctx, func(tx *sql.Tx) error {
		clear(dup)
		for k := 0; k < len(order); {
			team := cs[order[k]].TeamID
			plain = plain[:0]
			for ; k < len(order) && cs[order[k]].TeamID == team; k++ {
				i := order[k]
				cs[i].Credits = want[i]
				if cs[i].JobID == "" && cs[i].Settle == nil {
					plain = append(plain, i)
					continue
				}
				// In order: the team's spend is a float sum.
				if err := s.recordPlain(ctx, tx, team, cs, plain, dup); err != nil {
					return err
				}
				plain = plain[:0]
				d, err := s.recordCall(ctx, tx, cs[i], nil)
				if err != nil {
					return err
				}
				dup[i] = d
			}
			if err := s.recordPlain(ctx, tx, team, cs, plain, dup); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for i, c := range cs {
			c.Credits = want[i]
		}
		return nil, err
	}
	return dup, nil
}

// recordCall stores c inside tx: it releases c's reservation (or its
// share of c's block), then, unless
// c's id is stored already (dup), inserts the row, deducts c.Credits (at
// most what the team can pay: c.Credits is set to what was deducted), adds
// the cost to the spend, touches c's job and settles st's.
func (s *Store) recordCall(ctx context.Context, tx *sql.Tx, c *account.Call, st *account.Settlement) (dup bool, err error) {
	want := c.Credits
	c.Credits = 0
	if st == nil {
		st = c.Settle
	}
	if c.Reservation != "" {
		if err := s.release(ctx, tx, c.Reservation); err != nil {
			return false, err
		}
	}
	if c.Block != "" && c.Held > 0 {
		team, freed, err := s.shrinkBlock(ctx, tx, c.Block, c.Held, 1)
		if err == nil && freed > 0 {
			_, err = s.exec(ctx, tx, releaseTeam, team, freed, 0.0)
		}
		if err != nil {
			return false, err
		}
	}
	if want > 0 && c.TeamID != "" {
		// Deduct what the team can pay, never more. The call's own
		// reservation, released above, guarantees it while its lease
		// held. The no-op update locks the row (PostgreSQL) before it is
		// read.
		var free int64
		if err := s.queryRowTx(ctx, tx, lockTeam, c.TeamID).Scan(&free); err != nil {
			return false, err
		}
		c.Credits = min(want, max(free, 0))
	}
	res, err := s.exec(ctx, tx, insertCall,
		c.ID, c.TeamID, c.KeyID, c.JobID, c.Provider, c.Model, c.Request, c.Output, c.Thinking, c.ToolCalls,
		c.Usage.InputTokens, c.Usage.OutputTokens, c.Usage.ReasoningTokens, b2i(c.Usage.Estimated),
		c.Cost.Input, c.Cost.Output, c.Cost.Total,
		micros(c.Started), c.TTFT.Microseconds(), c.Duration.Microseconds(), c.Finish, c.Status, c.ErrorCode, c.ErrorMsg, c.Credits)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n == 0 {
		c.Credits = 0
		return true, nil // stored before: a second store is a no-op
	}
	if c.Credits > 0 {
		if _, err := s.exec(ctx, tx, deductCredit, c.TeamID, c.Credits); err != nil {
			return false, err
		}
	}
	if c.TeamID != "" && c.Cost.Total != 0 {
		if _, err := s.exec(ctx, tx, addSpent, c.TeamID, c.Cost.Total); err != nil {
			return false, err
		}
	}
	if c.JobID != "" {
		if _, err := s.exec(ctx, tx, touchJob, c.JobID, micros(c.Started.Add(c.Duration))); err != nil {
			return false, err
		}
	}
	if st != nil {
		at := c.Started.Add(c.Duration)
		settled, err := settle(ctx, tx, st.JobID, st.Status, st.Charge, at)
		if err == nil && !settled {
			err = settleLate(ctx, tx, st, at)
		}
		return false, err
	}
	return false, nil
}

func scanCall(r scanner) (account.Call, error) {
	var c account.Call
	var est int
	var started, ttft, dur int64
	err := r.Scan(&c.ID, &c.TeamID, &c.KeyID, &c.JobID, &c.Provider, &c.Model, &c.Request, &c.Output, &c.Thinking, &c.ToolCalls,
		&c.Usage.InputTokens, &c.Usage.OutputTokens, &c.Usage.ReasoningTokens, &est, &c.Cost.Input, &c.Cost.Output, &c.Cost.Total,
		&started, &ttft, &dur, &c.Finish, &c.Status, &c.ErrorCode, &c.ErrorMsg, &c.Credits)
	if errors.Is(err, sql.ErrNoRows) {
		return c, account.ErrNotFound
	}
	c.Usage.Estimated = est != 0
	c.Started = fromMicros(started)
	c.TTFT, c.Duration = time.Duration(ttft)*time.Microsecond, time.Duration(dur)*time.Microsecond
	return c, err
}

func (s *Store) Calls(ctx context.Context, jobID string) ([]account.Call, error) {
	rows, err := s.o.Read.QueryContext(ctx, `SELECT `+callCols+` FROM calls WHERE `+jobCalls+` ORDER BY started_at, id`, jobID)
	return collect(rows, err, scanCall)
}

func (s *Store) RecentCalls(ctx context.Context, f account.UsageFilter, limit int) ([]account.Call, error) {
	to := f.To
	if to.IsZero() {
		to = time.Now().Add(time.Hour)
	}
	rows, err := s.o.Read.QueryContext(ctx, `SELECT `+callCols+` FROM calls
		WHERE started_at >= $1 AND started_at < $2
		AND ($3 = '' OR team_id = $3) AND ($4 = '' OR key_id = $4) AND ($5 = '' OR model = $5)
		ORDER BY started_at DESC, id LIMIT $6`,
		micros(f.From), micros(to), f.TeamID, f.KeyID, f.Model, limit)
	return collect(rows, err, scanCall)
}

func (s *Store) Call(ctx context.Context, id string) (account.Call, error) {
	return scanCall(s.o.Read.QueryRowContext(ctx, `SELECT `+callCols+` FROM calls WHERE id = $1`, id))
}

func (s *Store) Usage(ctx context.Context, f account.UsageFilter) ([]account.UsageRow, error) {
	to := f.To
	if to.IsZero() {
		to = time.Now().Add(time.Hour)
	}
	// Empty filter values match everything; the query text never changes
	// with the filter, so it stays parameterized.
	rows, err := s.o.Read.QueryContext(ctx, `SELECT team_id, key_id, model, COUNT(*),
		CAST(COALESCE(SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END), 0) AS BIGINT),
		CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT), COALESCE(MAX(estimated), 0),
		COALESCE(SUM(cost_input), 0), COALESCE(SUM(cost_output), 0), COALESCE(SUM(cost_total), 0), CAST(COALESCE(SUM(duration_us), 0) AS BIGINT)
		FROM calls
		WHERE started_at >= $1 AND started_at < $2
		AND ($3 = '' OR team_id = $3) AND ($4 = '' OR key_id = $4) AND ($5 = '' OR model = $5)
		GROUP BY team_id, key_id, model ORDER BY team_id, key_id, model`,
		micros(f.From), micros(to), f.TeamID, f.KeyID, f.Model)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []account.UsageRow
	for rows.Next() {
		var u account.UsageRow
		var est, dur int64
		if err := rows.Scan(&u.TeamID, &u.KeyID, &u.Model, &u.Calls, &u.Errors, &u.Usage.InputTokens, &u.Usage.OutputTokens,
			&u.Usage.ReasoningTokens, &est, &u.Cost.Input, &u.Cost.Output, &u.Cost.Total, &dur); err != nil {
			return nil, err
		}
		u.Usage.Estimated = est != 0
		u.Duration = time.Duration(dur) * time.Microsecond
		out = append(out, u)
	}
	return out, rows.Err()
}
