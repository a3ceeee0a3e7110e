// Package cluster starts several `runnel serve` replicas for tests of
// Runnel behind a load balancer: one PostgreSQL schema and one Redis key
// prefix shared by all of them, a data directory each.
//
//	func TestX(t *testing.T) {
//		c := cluster.Start(t, cluster.Options{Replicas: 3, Postgres: true, Redis: true})
//		resp, err := http.Get(c.Next() + "/v1/models") // round-robin
//		…
//		c.Replicas[1].Kill()    // SIGKILL, as a crash
//		c.Replicas[1].Restart(t) // same address, data dir and environment
//	}
//
// The runnel binary is built once per test process (go build ./cmd/runnel),
// or taken from $RUNNEL_BIN when set. Call Main from the package's TestMain
// so that the built binary is removed at the end.
//
// Every replica listens on a free loopback port (read from its "ready" log
// line, then checked on /readyz) and is stopped by t.Cleanup: SIGTERM, then
// SIGKILL if it has not exited within 10 s. The kernel kills replicas if
// the test process dies without running its cleanups.
//
// Shared state: with Postgres, DATABASE_URL names a fresh schema (as the
// connection's search_path), dropped at the end; with Redis, REDIS_URL is
// $REDIS_URL (default redis://127.0.0.1:6379/0) and RUNNEL_REDIS_PREFIX is a
// fresh "runnel-test-HEX:" whose keys are deleted at the end.
package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runnel/runnel/internal/redistest"
)

const (
	readyTimeout = 60 * time.Second // a deadlock guard: two busy cores
	stopTimeout  = 10 * time.Second
)

// DefaultPostgresURL is the database scripts/services starts;
// $DATABASE_URL overrides it (and $REDIS_URL redistest.DefaultURL).
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Options say what the replicas share and how they are started.
type Options struct {
	// Replicas is how many processes to start (default 1).
	Replicas int
	// Postgres shares a fresh PostgreSQL schema (DATABASE_URL); without
	// it each replica has its own SQLite in its data directory.
	Postgres bool
	// Redis shares Redis under a fresh key prefix (REDIS_URL,
	// RUNNEL_REDIS_PREFIX).
	Redis bool
	// Config, when not empty, is YAML written to a file passed as --config.
	Config string
	// Args are added to `runnel serve --addr … --data-dir …`.
	Args []string
	// Env are "KEY=value" added to the test process's environment (after
	// DATABASE_URL and REDIS_URL, so they can override them).
	Env []string
}

// Cluster is a set of running replicas.
type Cluster struct {
	Replicas    []*Replica
	DatabaseURL string // "" without Options.Postgres
	RedisURL    string // "" without Options.Redis
	RedisPrefix string // "" without Options.Redis

	mu   sync.Mutex
	next int
}

// Replica is one `runnel serve` process of a Cluster. BaseURL, Addr and
// DataDir stay the same across Restart.
type Replica struct {
	BaseURL string // http://127.0.0.1:PORT
	Addr    string // 127.0.0.1:PORT
	DataDir string

	argv []string
	env  []string

	mu   sync.Mutex
	logs strings.Builder
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
}

// Start starts o.Replicas replicas (in parallel) and waits until every one
// is ready. It fails t if one is not.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	bin := Binary(t)
	n := max(o.Replicas, 1)
	c := &Cluster{}
	var env []string
	if o.Postgres {
		c.DatabaseURL = postgresSchema(t)
		env = append(env, "DATABASE_URL="+c.DatabaseURL)
	}
	if o.Redis {
		c.RedisURL, c.RedisPrefix = redistest.Prefix(t)
		env = append(env, "REDIS_URL="+c.RedisURL, "RUNNEL_REDIS_PREFIX="+c.RedisPrefix)
	}
	env = append(env, o.Env...)
	args := o.Args
	if o.Config != "" {
		f := filepath.Join(t.TempDir(), "runnel.yaml")
		if err := os.WriteFile(f, []byte(o.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", f}, args...)
	}
	for range n {
		r := &Replica{DataDir: t.TempDir(), env: append(os.Environ(), env...)}
		r.argv = append([]string{bin, "serve", "--data-dir", r.DataDir}, args...)
		c.Replicas = append(c.Replicas, r)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range c.Replicas {
		wg.Go(func() { errs[i] = r.start("127.0.0.1:0") })
		t.Cleanup(func() { r.stop(t) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("cluster: replica %d: %v", i, err)
		}
	}
	return c
}

// URLs returns every replica's base URL, in order.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.Replicas))
	for i, r := range c.Replicas {
		urls[i] = r.BaseURL
	}
	return urls
}

// Next returns the replicas' base URLs round-robin, as a load balancer
// with no health checks would (killed replicas included). It is safe for
// concurrent use.
func (c *Cluster) Next() string {
	c.mu.Lock()
	r := c.Replicas[c.next%len(c.Replicas)]
	c.next++
	c.mu.Unlock()
	return r.BaseURL
}

// Logs returns what the replica's processes wrote to stderr and stdout so
// far, every run since Start.
func (r *Replica) Logs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

func (r *Replica) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

// Done is closed when the replica's current process has exited.
func (r *Replica) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// Kill sends SIGKILL, as a crash would, and returns once the process has
// exited: nothing of it runs after Kill returns.
func (r *Replica) Kill() {
	r.signal(syscall.SIGKILL)
	<-r.Done()
}

// Term sends SIGTERM and returns at once, so that the test can watch the
// drain (/readyz, open streams); wait for the exit with Done or Wait.
func (r *Replica) Term() { r.signal(syscall.SIGTERM) }

// Wait waits until the current process has exited (at most ctx) and
// returns its exit code (-1 if killed by a signal).
func (r *Replica) Wait(ctx context.Context) (int, error) {
	select {
	case <-r.Done():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd.ProcessState.ExitCode(), nil
}

// Restart starts the replica again, after it has exited, on the same
// address, data directory, arguments and environment, and waits until it
// is ready.
func (r *Replica) Restart(t testing.TB) {
	t.Helper()
	select {
	case <-r.Done():
	default:
		t.Fatalf("cluster: Restart of %s, which is still running", r.Addr)
	}
	if err := r.start(r.Addr); err != nil {
		t.Fatalf("cluster: restart %s: %v", r.Addr, err)
	}
}

func (r *Replica) signal(sig os.Signal) {
	r.mu.Lock()
	p := r.cmd.Process
	r.mu.Unlock()
	p.Signal(sig)
}

// addrRE matches `addr=127.0.0.1:1234` in the text log, or `"addr":"…"`
// in the JSON one, but not `remote_addr=…`.
var addrRE = regexp.MustCompile(`(?:^|\s)addr="?([^\s"]+:\d+)"?|"addr":"([^"]+:\d+)"`)

// start runs the process listening on addr and waits for its ready line
// and a 200 from /readyz.
func (r *Replica) start(addr string) error {
	argv := append(append([]string(nil), r.argv...), "--addr", addr)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = r.env
	cmd.Stdout = r
	dieWithParent(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	fmt.Fprintf(r, "cluster: starting %s\n", strings.Join(argv[1:], " "))
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()

	ready := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stderr)
		found := false
		for {
			line, err := br.ReadString('\n')
			r.Write([]byte(line))
			if m := addrRE.FindStringSubmatch(line); !found && m != nil && strings.Contains(line, "ready") {
				found = true
				ready <- m[1] + m[2]
			}
			if err != nil {
				if err != io.EOF {
					fmt.Fprintf(r, "cluster: reading stderr: %v\n", err)
				}
				break
			}
		}
		cmd.Wait()
		close(done)
	}()

	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	select {
	case a := <-ready:
		r.Addr, r.BaseURL = a, "http://"+a
	case <-done:
		return fmt.Errorf("runnel serve exited (%v) before it was ready; output:\n%s", cmd.ProcessState, r.Logs())
	case <-deadline.C:
		return fmt.Errorf("runnel serve did not log its ready line within %v; output:\n%s", readyTimeout, r.Logs())
	}
	for {
		resp, err := http.Get(r.BaseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("runnel serve exited (%v) before /readyz answered 200; output:\n%s", cmd.ProcessState, r.Logs())
		case <-deadline.C:
			return fmt.Errorf("/readyz did not answer 200 within %v (last: %v); output:\n%s", readyTimeout, err, r.Logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *Replica) stop(t testing.TB) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
	default:
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(stopTimeout):
			cmd.Process.Kill()
			<-done
			t.Errorf("cluster: replica %s did not stop within %v of SIGTERM", r.Addr, stopTimeout)
		}
	}
	if t.Failed() {
		t.Logf("replica %s output:\n%s", r.Addr, r.Logs())
	}
}

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Binary returns the path of the runnel binary: $RUNNEL_BIN, or one built
// from this checkout once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("RUNNEL_BIN"); b != "" {
		return b
	}
	build.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		build.dir, build.err = os.MkdirTemp("", "runnel-cluster-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "runnel")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/runnel")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/runnel: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatalf("cluster: %v", build.err)
	}
	return build.bin
}

// Main runs the tests and removes the binary Binary built. Use it as
//
//	func TestMain(m *testing.M) { cluster.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

func randomHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// postgresSchema creates a fresh schema, dropped when t ends, and returns
// the database URL with it as the search path.
func postgresSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	schema := "runnel_cluster_" + randomHex()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("cluster: PostgreSQL at %s (start it with scripts/services): %v", base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("cluster: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("cluster: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("cluster: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("cluster: DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
