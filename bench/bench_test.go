package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

func upstream(t *testing.T, g *dialecttest.Gateway) string {
	mux := http.NewServeMux()
	openai.NewServer(g, openai.Options{}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

func TestRunConcurrency(t *testing.T) {
	g := &dialecttest.Gateway{Events: dialecttest.Script(
		dialecttest.Text("a", "b", "c", "d", "e"),
		[]stream.Event{stream.UsageEvent(stream.Usage{PromptTokens: 3, CompletionTokens: 5}), stream.Finished(stream.FinishStop)},
	)}
	base := upstream(t, g)
	res, err := Run(context.Background(), Config{BaseURL: base, Model: "mock/x", Prompt: "hi", MaxTokens: 5, Requests: 12, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed != 12 || res.Failed != 0 || res.TotalOutputTokens != 60 || res.TotalInputTokens != 36 {
		t.Fatalf("result %+v", res)
	}
	if res.ITL.N != 12*4 || res.TTFT.N != 12 || res.TPOT.N != 12 || res.E2EL.N != 12 {
		t.Errorf("counts ttft %d itl %d tpot %d e2el %d", res.TTFT.N, res.ITL.N, res.TPOT.N, res.E2EL.N)
	}
	for _, q := range res.Requests {
		if q.Chunks != 5 || q.TTFT <= 0 || q.E2E < q.TTFT || len(q.ITL) != 4 {
			t.Errorf("request %+v", q)
		}
	}
	reqs := g.Requests()
	if len(reqs) != 12 || reqs[0].Messages[0].Content != "hi" || reqs[0].Sampling.MaxTokens != 5 {
		t.Errorf("server saw %d requests, first %+v", len(reqs), reqs[0])
	}
	var tbl, js bytes.Buffer
	res.WriteTable(&tbl)
	for _, want := range []string{"Successful requests:               12", "Total generated tokens:            60", "Median TTFT (ms):", "P99 ITL (ms):", "Mean TPOT (ms):", "Mode:                              concurrency 4"} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["completed"] != 12.0 || m["max_concurrency"] != 4.0 || m["request_rate"] != "inf" || len(m["itls"].([]any)) != 12 || m["p99_ttft_ms"] == nil {
		t.Errorf("json %s", js.String()[:400])
	}
}

func TestRunRateAndFailures(t *testing.T) {
	g := &dialecttest.Gateway{Err: stream.Errorf(stream.CodeNotFound, "model %q not found", "nope")}
	base := upstream(t, g)
	for _, fixed := range []bool{false, true} {
		res, err := Run(context.Background(), Config{BaseURL: base, Model: "nope", Prompt: "hi", Requests: 5, Rate: 1000, Fixed: fixed, Completions: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Completed != 0 || res.Failed != 5 || len(res.Errors) != 5 || !strings.Contains(res.Errors[0], `model "nope" not found`) {
			t.Errorf("result %+v", res)
		}
	}
}

// A run cancelled before its requests went out (Ctrl-C in `runnel bench`)
// returns with each marked cancelled. Run once gave back a concurrency
// slot it had not taken when the cancellation won the race for one, and
// then waited forever for a slot to give back.
func TestRunCancelledBeforeRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan *Result, 1)
	go func() {
		res, err := Run(ctx, Config{BaseURL: "http://127.0.0.1:1/v1", Model: "m", Prompt: "hi", Requests: 64, Concurrency: 4})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	select {
	case res := <-done:
		if res == nil || res.Completed != 0 || res.Failed != 64 || !strings.Contains(res.Errors[0], "cancelled before the request was sent") {
			t.Fatalf("result %+v", res)
		}
	case <-time.After(time.Minute): // a hang, as a failure rather than the test binary's timeout
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {50, 5.5}, {90, 9.1}, {99, 9.91}, {100, 10}} {
		if got := Percentile(v, c.p); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("p%g = %g, want %g", c.p, got, c.want)
		}
	}
	s := stats([]float64{4, 2, 6})
	if s.Mean != 4 || s.Median != 4 || s.Max != 6 || s.N != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{}, {BaseURL: "x", Model: "m"}, {BaseURL: "x", Model: "m", Requests: 1, Rate: -1}} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestMockHandler(t *testing.T) {
	srv := httptest.NewServer(MockHandler(mock.Options{Tokens: 7, Text: "alpha beta"}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{BaseURL: srv.URL + "/v1", Model: "default?itl=1ms", Prompt: "one two three", Requests: 6, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed != 6 || res.TotalOutputTokens != 42 || res.TotalInputTokens != 18 || res.ITL.N != 36 {
		t.Errorf("result %+v", res)
	}
	res, err = Run(context.Background(), Config{BaseURL: srv.URL + "/v1", Model: "default?error_after=2", Prompt: "x", Requests: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 2 || !strings.Contains(res.Errors[0], "injected upstream error after 2 tokens") {
		t.Errorf("result %+v", res)
	}
}
