package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/account"

	_ "modernc.org/sqlite"
)

func TestPositional(t *testing.T) {
	for _, c := range []struct {
		name, q, want string
		order         []int
		ok            bool
	}{
		{"in order", `UPDATE t SET a = $1 WHERE id = $2`, `UPDATE t SET a = ? WHERE id = ?`, nil, true},
		{"out of order", `UPDATE t SET a = $2 WHERE id = $1`, `UPDATE t SET a = ? WHERE id = ?`, []int{1, 0}, true},
		{"repeated", `SELECT 1 WHERE $1 = '' OR x = $1 LIMIT $2`, `SELECT 1 WHERE ? = '' OR x = ? LIMIT ?`, []int{0, 0, 1}, true},
		{"gap", `SELECT $1, $3`, `SELECT ?, ?`, []int{0, 2}, true},
		{"two digits", `VALUES ($9, $10, $11)`, `VALUES (?, ?, ?)`, []int{8, 9, 10}, true},
		{"none", `SELECT 1`, `SELECT 1`, nil, true},
		{"literal", `SELECT '$1', $1, 'it''s $2'`, `SELECT '$1', ?, 'it''s $2'`, nil, true},
		{"identifier", `SELECT "a$1""b", $1`, `SELECT "a$1""b", ?`, nil, true},
		{"line comment", "SELECT $1 -- $2 ?\n, $2", "SELECT ? -- $2 ?\n, ?", nil, true},
		{"block comment", `SELECT /* $3 ? */ $1`, `SELECT /* $3 ? */ ?`, nil, true},
		{"unclosed literal", `SELECT $1, '$2`, `SELECT ?, '$2`, nil, true},
		{"a ? already", `SELECT ?, $1`, "", nil, false},
		{"named", `SELECT :a`, "", nil, false},
		{"at name", `SELECT @a`, "", nil, false},
		{"dollar name", `SELECT $a`, "", nil, false},
		{"dollar zero", `SELECT $0`, "", nil, false},
		{"leading zero", `SELECT $01`, "", nil, false},
		{"number then letters", `SELECT $1a`, "", nil, false},
		{"bare dollar", `SELECT $`, "", nil, false},
		{"huge", `SELECT $99999999999999999999`, "", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, order, ok := positional(c.q)
			if ok != c.ok || got != c.want || !reflect.DeepEqual(order, c.order) {
				t.Fatalf("positional(%q) = %q, %v, %v; want %q, %v, %v", c.q, got, order, ok, c.want, c.order, c.ok)
			}
		})
	}
}

// numbered undoes positional: each ? outside quotes and comments becomes
// $N again. It reads the text its own way, to check positional's.
func numbered(q string, order []int) string {
	var b strings.Builder
	k := 0
	var quote byte
	comment := ""
	opened := 0 // where the comment began
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case comment != "":
			b.WriteByte(c)
			if comment == "\n" && c == '\n' || comment == "*/" && c == '/' && q[i-1] == '*' && i >= opened+3 {
				comment = ""
			}
		case quote != 0:
			b.WriteByte(c)
			if c == quote {
				quote = 0 // a doubled quote closes and reopens
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
			b.WriteByte(c)
		case strings.HasPrefix(q[i:], "--"):
			comment = "\n"
			b.WriteByte(c)
		case strings.HasPrefix(q[i:], "/*"):
			comment, opened = "*/", i
			b.WriteString("/*")
			i++
		case c == '?':
			n := k + 1
			if order != nil {
				n = order[k] + 1
			}
			k++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func FuzzPositional(f *testing.F) {
	for _, q := range []string{
		insertCall, addSpent, releaseTeam, shrinkBlockQ, insertCallsLocking(2, " FOR UPDATE"), selectTeam,
		`SELECT '$1', $2 -- $3` + "\n" + `/* $4 */ "x$5"`, `SELECT $1 = '' OR a = $1`, `SELECT ?`, `SELECT $0`,
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out, order, ok := positional(q)
		if !ok {
			return
		}
		if back := numbered(out, order); back != q {
			t.Fatalf("positional(%q) = %q, %v; back %q", q, out, order, back)
		}
		n := strings.Count(out, "?") - strings.Count(q, "?")
		if order != nil && len(order) != n {
			t.Fatalf("positional(%q): %d parameters, order %v", q, n, order)
		}
	})
}

// Every statement the store prepares is rewritten on SQLite, and SQLite
// counts as many parameters as the rewrite passes arguments.
func TestStatementsArePositional(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	s := &Store{o: Options{Write: db, Positional: true}, lockBlockQ: lockBlockRow, lockHeldQ: lockHeldRow}
	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range append(s.writeStatements(), selectTeam) {
		out, order, ok := positional(q)
		if !ok {
			t.Fatalf("not rewritten: %s", q)
		}
		// SQLite's count of parameters shows when one value too few is
		// bound: the driver names the missing index.
		n := len(order)
		if order == nil {
			n = strings.Count(out, "?")
		}
		args := make([]any, n)
		for i := range args {
			args[i] = int64(0)
		}
		st, err := db.PrepareContext(ctx, out)
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if _, err := st.ExecContext(ctx, args[:n-1]...); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("missing argument with index %d", n)) {
			t.Errorf("%s: %d arguments less one: %v", out, n, err)
		}
		st.Close()
	}
}

// The same calls stored through ?s and through $Ns leave the same rows:
// teams, keys, calls, blocks and usage.
func TestPositionalMatchesNumbered(t *testing.T) {
	dump := func(positional bool) string {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "p.db")+"?_pragma=foreign_keys(1)")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		ctx := context.Background()
		s, err := New(ctx, Options{Write: db, Positional: positional})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(s.CreateTeam(ctx, account.Team{ID: "team_a", Name: "a", Credits: 1000, Created: t0}))
		must(s.CreateTeam(ctx, account.Team{ID: "team_b", Name: "b", Credits: 3, Created: t0}))
		must(s.SetTeamLimits(ctx, "team_a", account.Limits{RPM: 5, TPM: 7}, 0))
		must(s.CreateKey(ctx, account.Key{ID: "key_a", TeamID: "team_a", Name: "k", Prefix: "pre", Hash: []byte{1, 2}, Created: t0}))
		must(s.Reserve(ctx, account.Reservation{ID: "res_1", TeamID: "team_a", Owner: "o", Credits: 4, Budget: 0.5}))
		must(s.Reserve(ctx, account.Reservation{ID: "res_2", TeamID: "team_b", Owner: "o", Credits: 3}))
		if n, err := s.TakeBlock(ctx, account.Reservation{ID: "blk_1", TeamID: "team_a", Owner: "o", Credits: 100}, 4, 10); err != nil || n != 100 {
			t.Fatalf("block: %d %v", n, err)
		}
		must(s.CreateJob(ctx, account.Job{ID: "job_1", TeamID: "team_a", KeyID: "key_a", Type: "t", Status: account.JobPending, Reserved: 5, Created: t0}))
		call := func(id, team string, credits int64) *account.Call {
			return &account.Call{ID: id, TeamID: team, KeyID: "key_a", Provider: "p", Model: "m", Request: `{"$1":"?"}`, Output: "o'1",
				Usage: account.Usage{InputTokens: 3, OutputTokens: 5}, Cost: account.Cost{Input: 0.25, Output: 0.5, Total: 0.75},
				Started: t0.Add(time.Duration(len(id)) * time.Second), TTFT: time.Millisecond, Duration: time.Second, Status: "ok", Credits: credits}
		}
		in := func(c *account.Call, held int64) *account.Call {
			c.Block, c.Held, c.Cost = "blk_1", held, account.Cost{}
			return c
		}
		res := func(c *account.Call, r string) *account.Call { c.Reservation = r; return c }
		job := call("call_job", "team_a", 0)
		job.JobID, job.Settle = "job_1", &account.Settlement{JobID: "job_1", Status: account.JobCompleted, Charge: 4}
		dup, err := s.RecordCalls(ctx, []*account.Call{
			in(call("call_1", "team_a", 2), 2), in(call("call_2", "team_a", 1), 2), res(call("call_3", "team_a", 4), "res_1"),
			res(call("call_4", "team_b", 5), "res_2"), job, in(call("call_1", "team_a", 2), 2), call("call_5", "", 0),
		})
		must(err)
		must(s.RecordCall(ctx, in(call("call_6", "team_a", 3), 3), nil))
		must(s.ReturnBlock(ctx, "blk_1", 50))
		out := fmt.Sprintln(dup)
		teams, err := s.Teams(ctx)
		must(err)
		kts, err := s.AuthKeys(ctx, "pre")
		must(err)
		calls, err := s.RecentCalls(ctx, account.UsageFilter{To: t0.Add(time.Hour)}, 100)
		must(err)
		usage, err := s.Usage(ctx, account.UsageFilter{To: t0.Add(time.Hour)})
		must(err)
		j, err := s.Job(ctx, "job_1")
		must(err)
		n, err := s.Reservations(ctx)
		must(err)
		return out + fmt.Sprintf("%+v\n%+v\n%+v\n%+v\n%+v\n%d", teams, kts, calls, usage, j, n)
	}
	a, b := dump(true), dump(false)
	if a != b {
		t.Fatalf("through ?s:\n%s\nthrough $Ns:\n%s", a, b)
	}
	t.Log(a)
}
