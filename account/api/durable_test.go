package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
	"github.com/runnel/runnel/account/store/sqlite"
	"github.com/runnel/runnel/dialect/openai"
)

// TestMain lets the test binary act as a server process for
// TestRecordSurvivesKill.
func TestMain(m *testing.M) {
	if dir := os.Getenv("RUNNEL_ACCOUNT_TEST_SERVER"); dir != "" {
		childServer(dir)
		return
	}
	os.Exit(m.Run())
}

// childServer serves the jobs and OpenAI APIs over the SQLite store in dir
// and prints its address; it runs until killed.
func childServer(dir string) {
	st, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	acct := account.New(st, account.Config{})
	gw := newGateway(acct)
	mux := http.NewServeMux()
	api.NewJobs(acct, gw, api.Options{DefaultModel: "mock/default"}).Register(mux)
	openai.NewServer(gw, openai.Options{}).Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("addr=" + ln.Addr().String())
	http.Serve(ln, acct.Middleware(mux))
}

// TestRecordSurvivesKill: a call whose response the client has read to
// the end is in the store even if the server is killed with SIGKILL at
// once.
func TestRecordSurvivesKill(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	acct := account.New(st, account.Config{})
	team, err := acct.CreateTeam(context.Background(), "durable", 10)
	if err != nil {
		t.Fatal(err)
	}
	acct.Close()

	for round := 0; round < 3; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "RUNNEL_ACCOUNT_TEST_SERVER="+dir)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr=")
		if err != nil || !ok {
			cmd.Process.Kill()
			t.Fatalf("child said %q: %v", line, err)
		}
		e := &env{t: t, url: "http://" + addr}
		text := fmt.Sprintf("round%d", round)
		// create-and-call-stream also settles the job before the response ends.
		r := e.do("POST", "/api/jobs/create-and-call-stream", "",
			`{"team_id":"`+team.ID+`","model":"mock/default?text=`+text+`","messages":[{"role":"user","content":"x"}]}`)
		if got, done := sse(t, r.body); got != text || !done {
			t.Fatalf("stream %d %s", r.status, r.body)
		}
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}

	st, err = sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Usage(context.Background(), account.UsageFilter{TeamID: team.ID, From: time.Now().Add(-time.Hour)})
	if err != nil || len(rows) != 3 {
		t.Fatalf("after kill -9: %+v %v", rows, err)
	}
	for i, r := range rows {
		if r.Model != fmt.Sprintf("default?text=round%d", i) || r.Calls != 1 || r.Usage.OutputTokens != 1 {
			t.Fatalf("after kill -9, row %d: %+v", i, r)
		}
	}
	tm, _ := st.Team(context.Background(), team.ID)
	if tm.Credits != 7 || tm.Reserved != 0 {
		t.Fatalf("team after kill -9: %+v", tm)
	}
}
