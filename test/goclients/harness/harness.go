// Package harness starts a live `runnel serve` for the Go conformance tests.
//
//	func TestX(t *testing.T) {
//		base := harness.Start(t, "--config", "testdata/x.yaml")
//		resp, err := http.Get(base + "/v1/models")
//		…
//	}
//
// The binary is $RUNNEL_BIN (scripts/conformance builds it); tests skip with
// a clear message when it is unset. The server listens on a free loopback
// port and gets a fresh temporary --data-dir; the port is read from the ready
// line it logs on stderr, which contains `addr=HOST:PORT`. It is stopped
// (SIGTERM, then SIGKILL) by t.Cleanup.
package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// addrRE matches `addr=127.0.0.1:1234` (text log, possibly quoted) or
// `"addr":"…"` (JSON log), but not `remote_addr=…`.
var addrRE = regexp.MustCompile(`(?:^|\s)addr="?([^\s"]+:\d+)"?|"addr":"([^"]+:\d+)"`)

// Server is a running `runnel serve`.
type Server struct {
	BaseURL string // http://HOST:PORT
	Addr    string // HOST:PORT
	DataDir string

	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{} // closed when the process has exited
}

// Logs returns what the server wrote to stderr and stdout so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.Write(p)
}

// Start starts `runnel serve --addr 127.0.0.1:0 --data-dir TMP args...` and
// returns its base URL, e.g. "http://127.0.0.1:41234".
func Start(t testing.TB, args ...string) string {
	t.Helper()
	return StartServer(t, nil, args...).BaseURL
}

// StartServer is Start with extra environment variables ("KEY=value", added
// to the test process's environment), returning the Server for its logs.
func StartServer(t testing.TB, env []string, args ...string) *Server {
	t.Helper()
	bin := os.Getenv("RUNNEL_BIN")
	if bin == "" {
		t.Skip("RUNNEL_BIN is not set: run scripts/conformance, or build runnel (go build -o bin/runnel ./cmd/runnel) and export RUNNEL_BIN=$PWD/bin/runnel")
	}
	s := &Server{DataDir: t.TempDir(), done: make(chan struct{})}
	argv := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", s.DataDir}, args...)
	s.cmd = exec.Command(bin, argv...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout = s
	dieWithParent(s.cmd)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("harness: start %s: %v", bin, err)
	}

	ready := make(chan string, 1)
	go func() {
		// Copy stderr into the logs line by line, watching for the ready
		// line, until the process closes it.
		br := bufio.NewReader(stderr)
		found := false
		for {
			line, err := br.ReadString('\n')
			s.Write([]byte(line))
			if !found {
				if m := addrRE.FindStringSubmatch(line); m != nil {
					found = true
					ready <- m[1] + m[2]
				}
			}
			if err != nil {
				if err != io.EOF {
					fmt.Fprintf(s, "harness: reading stderr: %v\n", err)
				}
				break
			}
		}
		s.cmd.Wait()
		close(s.done)
	}()

	t.Cleanup(func() { s.stop(t) })

	select {
	case s.Addr = <-ready:
	case <-s.done:
		t.Fatalf("harness: runnel serve exited (%v) before it was ready; output:\n%s", s.cmd.ProcessState, s.Logs())
	case <-time.After(readyTimeout):
		t.Fatalf("harness: runnel serve did not log its ready line within %v; output:\n%s", readyTimeout, s.Logs())
	}
	s.BaseURL = "http://" + s.Addr
	return s
}

func (s *Server) stop(t testing.TB) {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.done
			t.Errorf("harness: runnel serve did not stop within %v of SIGTERM; output:\n%s", stopTimeout, s.Logs())
		}
	}
	if t.Failed() {
		t.Logf("runnel serve output:\n%s", s.Logs())
	}
}
