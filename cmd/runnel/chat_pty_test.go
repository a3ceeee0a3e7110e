package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/runnel/runnel/internal/testmodels"
)

// TestMain lets tests run this test binary as the runnel command, so that
// it can be driven in a pseudo-terminal. The developer's Ollama store is
// out of the tests' sight.
func TestMain(m *testing.M) {
	if os.Getenv("RUNNEL_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	testmodels.NoOllamaStore()
	os.Exit(m.Run())
}

// terminal is the far side of a pseudo-terminal: what the program printed,
// and a way to type.
type terminal struct {
	t    *testing.T
	f    *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	seen int // expect has consumed buf up to here
}

func startTerminal(t *testing.T, args ...string) (*terminal, *exec.Cmd) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RUNNEL_TEST_AS_MAIN=1", "NO_COLOR=")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, f: f}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			term.mu.Lock()
			term.buf.Write(b[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); f.Close() })
	return term, cmd
}

// expect waits until want appears after what was already matched.
func (term *terminal) expect(want string) {
	term.t.Helper()
	deadline := time.Now().Add(20 * time.Second) // a hang guard, not a latency assertion
	for time.Now().Before(deadline) {
		term.mu.Lock()
		out := term.buf.String()
		term.mu.Unlock()
		if i := strings.Index(out[term.seen:], want); i >= 0 {
			term.seen += i + len(want)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	term.t.Fatalf("never saw %q; the terminal shows after the last match:\n%q", want, term.buf.String()[term.seen:])
}

func (term *terminal) send(keys string) {
	term.t.Helper()
	if _, err := term.f.WriteString(keys); err != nil {
		term.t.Fatal(err)
	}
}

func TestChatInATerminal(t *testing.T) {
	l := startLive(t)
	term, cmd := startTerminal(t, "chat", "--url", l.url, "--model", "mock/default?text=Hello%20there.&think=2&itl=1ms")

	// Thinking is dimmed, the reply plain, the stats dimmed after it.
	term.expect("> ")
	term.send("hi\r")
	term.expect(dim + "Let me" + reset)
	term.expect("Hello there.\r\n")
	term.expect(dim + "[TTFT ")
	term.expect("> ")

	// Ctrl-C stops the reply being streamed, not the program.
	term.send("/model mock/default?text=one%20two%20three&hang_after=2\r")
	term.expect("model: mock/default?text=one%20two%20three&hang_after=2")
	term.send("go on\r")
	term.expect("one two")
	term.send("\x03")
	term.expect("[stopped]")
	term.expect("> ")

	// Metrics on request, and the conversation saved: the stopped turn is
	// not part of it.
	term.send("/metrics\r")
	term.expect("TTFC ")
	term.expect("chunks/s")
	path := filepath.Join(t.TempDir(), "conversation.json")
	term.send("/system Be kind.\r")
	term.expect("system: Be kind.")
	term.send("/save " + path + "\r")
	term.expect("saved 2 messages")
	term.send("/nonsense\r")
	term.expect(red + "unknown command /nonsense")
	term.send("/quit\r")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("runnel chat exited with %v", err)
	}

	var saved struct {
		Model    string
		Messages []struct{ Role, Content string }
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(saved.Messages)
	want := `[{"Role":"system","Content":"Be kind."},{"Role":"user","Content":"hi"},{"Role":"assistant","Content":"Hello there."}]`
	if string(got) != want || saved.Model != "mock/default?text=one%20two%20three&hang_after=2" {
		t.Fatalf("saved %s (model %q), want %s", got, saved.Model, want)
	}
}
