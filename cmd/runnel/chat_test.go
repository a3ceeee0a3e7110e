package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"

	"github.com/runnel/runnel/config"
)

// live serves the real handler over loopback, as `runnel serve` does with
// no configuration, recording the chat requests it gets.
type live struct {
	url      string
	mu       sync.Mutex
	requests []map[string]any
}

func startLive(t *testing.T) *live {
	t.Helper()
	cfg := config.Default()
	if err := cfg.ApplyEnv(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	cfg.Server.DataDir = t.TempDir()
	h, _, closeAll, err := newServer(context.Background(), cfg, accountOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	l := &live{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(b, &body)
		l.mu.Lock()
		l.requests = append(l.requests, body)
		l.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ts.Close(); closeAll() })
	l.url = ts.URL
	return l
}

// runCLI runs the runnel command line in-process and resets the flags it
// set, since cobra keeps them between executions.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	defer func() {
		for _, c := range root.Commands() {
			c.Flags().VisitAll(func(f *pflag.Flag) {
				f.Value.Set(f.DefValue)
				f.Changed = false
			})
		}
	}()
	err = root.Execute()
	return out.String(), errOut.String(), err
}

const hello = "mock/default?text=Hello%20there%2C%20friend.&itl=1ms"

var statsLine = regexp.MustCompile(`^\[TTFT \d\S* · 5 tokens · [\d.]+ tokens/s · total \d\S*\]\n$`)

func TestChatStreamsTheReply(t *testing.T) {
	l := startLive(t)
	stdout, stderr, err := runCLI(t, "", "chat", "--url", l.url, "--model", hello, "Say", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "Hello there, friend.\n" {
		t.Fatalf("stdout = %q", stdout)
	}
	if !statsLine.MatchString(stderr) {
		t.Fatalf("stderr = %q, want the stats line", stderr)
	}
	req := l.requests[0]
	msgs, _ := json.Marshal(req["messages"])
	if string(msgs) != `[{"content":"Say hello","role":"user"}]` || req["stream"] != true {
		t.Fatalf("request = %v", req)
	}
}

func TestChatPromptFromStdinWithSystem(t *testing.T) {
	l := startLive(t)
	stdout, _, err := runCLI(t, "  What now?\n", "chat", "--url", l.url, "--model", hello, "--system", "Be brief.", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "Hello there, friend.\n" {
		t.Fatalf("stdout = %q", stdout)
	}
	msgs, _ := json.Marshal(l.requests[0]["messages"])
	if string(msgs) != `[{"content":"Be brief.","role":"system"},{"content":"What now?","role":"user"}]` {
		t.Fatalf("messages = %s", msgs)
	}
}

func TestChatIntoFile(t *testing.T) {
	l := startLive(t)
	path := filepath.Join(t.TempDir(), "reply.txt")
	stdout, stderr, err := runCLI(t, "", "chat", "--url", l.url, "--model", hello, "-o", path, "hi")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if stdout != "" || string(b) != "Hello there, friend.\n" || !statsLine.MatchString(stderr) {
		t.Fatalf("stdout %q, file %q, stderr %q", stdout, b, stderr)
	}
}

func TestChatMultiTurnKeepsHistory(t *testing.T) {
	l := startLive(t)
	stdout, stderr, err := runCLI(t, "first\n\nsecond\n", "chat", "-i", "--url", l.url, "--model", "mock/default?text=Sure.")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "Sure.\nSure.\n" {
		t.Fatalf("stdout = %q", stdout)
	}
	if n := strings.Count(stderr, "[TTFT"); n != 2 {
		t.Fatalf("%d stats lines in %q", n, stderr)
	}
	if len(l.requests) != 2 {
		t.Fatalf("%d requests", len(l.requests))
	}
	msgs, _ := json.Marshal(l.requests[1]["messages"])
	want := `[{"content":"first","role":"user"},{"content":"Sure.","role":"assistant"},{"content":"second","role":"user"}]`
	if string(msgs) != want {
		t.Fatalf("second turn's messages = %s, want %s", msgs, want)
	}
}

func TestChatErrors(t *testing.T) {
	l := startLive(t)
	tests := []struct {
		name, model, stdout, err string
	}{
		{"upstream refuses", "mock/default?status=503", "", "502 Bad Gateway: mock: upstream answered 503 Service Unavailable"},
		{"fails mid-stream", "mock/default?text=one%20two%20three&error_after=2", "one two\n", "the stream failed: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runCLI(t, "", "chat", "--url", l.url, "--model", tt.model, "hi")
			if err == nil || !strings.Contains(err.Error(), tt.err) || stdout != tt.stdout {
				t.Fatalf("stdout %q, err %v; want %q and an error containing %q", stdout, err, tt.stdout, tt.err)
			}
		})
	}
	if _, _, err := runCLI(t, "   \n", "chat", "--url", l.url); err == nil || !strings.Contains(err.Error(), "no prompt") {
		t.Fatalf("empty stdin: %v", err)
	}
}
