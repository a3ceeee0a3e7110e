package accounting_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnel/runnel/internal/redistest"
	"github.com/runnel/runnel/test/cluster"
)

// redisProxy forwards to Redis until cut; then it drops the connections it
// forwards and leaves new ones unanswered, as a dead network path would.
type redisProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func newRedisProxy(t *testing.T, target string) *redisProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &redisProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			cut := p.cut
			p.mu.Unlock()
			if cut {
				continue // accepted, never answered
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.set(true) })
	return p
}

// set cuts (true) or restores (false) the path to Redis.
func (p *redisProxy) set(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func readyz(t *testing.T, base string) (state string, failOpen bool) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		RateLimits struct {
			Backend  string `json:"backend"`
			State    string `json:"state"`
			FailOpen bool   `json:"fail_open"`
		} `json:"rate_limits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.RateLimits.Backend != "redis" {
		t.Fatalf("/readyz: %+v %v", body, err)
	}
	return body.RateLimits.State, body.RateLimits.FailOpen
}

// metric reads one series from /metrics, which wants an API key when auth
// is on.
func metric(t *testing.T, base, key, name string) string {
	t.Helper()
	code, b, err := call(base, "GET", "/metrics", key, "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, line := range strings.Split(b, "\n") {
		if strings.HasPrefix(line, name) {
			return line
		}
	}
	return ""
}

// With Redis unreachable, a replica admits calls without shared limits
// (fail open) or refuses them with 503 (fail closed), shows the state on
// /readyz and in runnel_rate_limit_backend_up, and shares limits again
// once Redis answers.
func TestRedisDownModes(t *testing.T) {
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			opt, err := redis.ParseURL(redistest.URL())
			if err != nil {
				t.Fatal(err)
			}
			p := newRedisProxy(t, opt.Addr)
			c := start(t, cluster.Options{Redis: true, Env: []string{
				fmt.Sprintf("REDIS_URL=redis://%s/%d", p.ln.Addr(), opt.DB), "RUNNEL_RATE_LIMIT_FAIL=" + mode}})
			base := c.URLs()[0]
			tm, keys := newTeam(t, base, "limited", 1000, 0)
			mustJSON(t, base, "POST", "/admin/teams/"+tm.ID+"/limits", adminKey, `{"rpm_limit":100000}`, http.StatusOK)
			chat := func() int {
				code, _, _, _ := stream(base, "/v1/chat/completions", keys[0], chatBody, nil)
				return code
			}
			if code := chat(); code != 200 {
				t.Fatalf("with Redis: %d", code)
			}
			if st, open := readyz(t, base); st != "up" || open != (mode == "open") {
				t.Fatalf("readyz with Redis: %s, fail_open %v", st, open)
			}

			p.set(true)
			want := map[string]int{"open": 200, "closed": 503}[mode]
			for i := range 20 {
				if code := chat(); code != want {
					t.Fatalf("call %d with Redis cut: %d, want %d", i, code, want)
				}
			}
			if st, _ := readyz(t, base); st != "down" {
				t.Fatalf("readyz with Redis cut: %s", st)
			}
			if m := metric(t, base, keys[0], "runnel_rate_limit_backend_up"); !strings.HasSuffix(m, " 0") {
				t.Fatalf("metric with Redis cut: %q", m)
			}

			p.set(false)
			deadline := time.After(time.Minute) // the breaker retries every 5s
			for chat() != 200 || func() bool { st, _ := readyz(t, base); return st != "up" }() {
				select {
				case <-deadline:
					t.Fatal("limits never came back after Redis did")
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
}
