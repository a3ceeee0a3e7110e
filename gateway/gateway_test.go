package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// The engine's kernel workers (TestEngineLeavesTheRequestAsItWas) are a
// pool kept for the process, as the engine's own tests allow.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/runnel/runnel/engine/kernels.worker"))
}

// accountant records what the gateway hands it.
type accountant struct {
	mu       sync.Mutex
	deny     error
	records  []*gateway.Record
	warnings []string
}

func (a *accountant) Admit(ctx context.Context, req *stream.Request) (gateway.Admission, error) {
	if a.deny != nil {
		return nil, a.deny
	}
	return admission{a}, nil
}

type admission struct{ a *accountant }

func (ad admission) Warnings() []string { return ad.a.warnings }
func (ad admission) Done(rec *gateway.Record) {
	ad.a.mu.Lock()
	defer ad.a.mu.Unlock()
	ad.a.records = append(ad.a.records, rec)
}

func (a *accountant) only(t *testing.T) *gateway.Record {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.records) != 1 {
		t.Fatalf("%d records, want exactly 1", len(a.records))
	}
	return a.records[0]
}

// observer counts the gateway's metrics calls.
type observer struct {
	mu                   sync.Mutex
	started, first, gaps int
	ended                []*gateway.Record
	labels               map[string]bool
	ttft, gapTotal       time.Duration
	firstP, firstM       string
}

func (o *observer) note(p, m string) {
	if o.labels == nil {
		o.labels = map[string]bool{}
	}
	o.labels[p+" "+m] = true
}
func (o *observer) CallStarted(p, m string) { o.mu.Lock(); o.started++; o.note(p, m); o.mu.Unlock() }
func (o *observer) FirstToken(p, m string, d time.Duration) {
	o.mu.Lock()
	o.first++
	o.ttft = d
	o.firstP, o.firstM = p, m
	o.note(p, m)
	o.mu.Unlock()
}
func (o *observer) TokenGap(p, m string, d time.Duration) {
	o.mu.Lock()
	o.gaps++
	o.gapTotal += d
	if p != o.firstP || m != o.firstM {
		o.note(p, m) // a different label than FirstToken's shows in labels
	}
	o.mu.Unlock()
}
func (o *observer) CallEnded(r *gateway.Record) {
	o.mu.Lock()
	o.ended = append(o.ended, r)
	o.note(r.Provider, r.Model)
	o.mu.Unlock()
}

type rig struct {
	gw  *gateway.Gateway
	acc *accountant
	obs *observer
}

func newRig(prices gateway.Prices, opts ...func(*gateway.Options)) rig {
	r := gateway.NewStaticRouter()
	r.Register("mock", mock.New(mock.Options{}))
	r.Register("m2", &mock.Provider{Name: "m2", Options: mock.Options{Text: "second"}})
	r.SetDefault("mock")
	r.Alias("fast", gateway.Target{Provider: "m2", Model: "x?tokens=2"})
	r.Alias("chain", gateway.Target{Provider: "mock", Model: "a?status=503"}, gateway.Target{Provider: "m2", Model: "b?tokens=2&text=ok"})
	r.Alias("late", gateway.Target{Provider: "mock", Model: "a?error_after=1&tokens=3&text=x"}, gateway.Target{Provider: "m2", Model: "b"})
	r.Alias("down", gateway.Target{Provider: "mock", Model: "a?status=503"}, gateway.Target{Provider: "m2", Model: "b?status=429"})
	acc, obs := &accountant{warnings: []string{"80% of the daily token limit used"}}, &observer{}
	o := gateway.Options{Router: r, Accountant: acc, Observer: obs, Prices: prices}
	for _, f := range opts {
		f(&o)
	}
	return rig{gateway.New(o), acc, obs}
}

func chat(model string) *stream.Request {
	return &stream.Request{Model: model, Messages: []stream.Message{
		{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Say hello, please!"}}}
}

// prompt tokens of chat() by the mock's count.
const promptTokens = 8

func show(ev stream.Event) string {
	switch ev.Kind {
	case stream.KindDelta:
		if ev.Channel == stream.Thinking {
			return "t:" + ev.Text
		}
		return "d:" + ev.Text
	case stream.KindUsage:
		est := ""
		if ev.Usage.Estimated {
			est = "~"
		}
		return fmt.Sprintf("usage:%s%d/%d", est, ev.Usage.PromptTokens, ev.Usage.CompletionTokens)
	case stream.KindFinish:
		return "finish:" + string(ev.Finish)
	case stream.KindError:
		return fmt.Sprintf("error:%s:%s", ev.Err.Code, ev.Err.Message)
	case stream.KindToolCall:
		return "tool:" + ev.ToolCall.Name + ev.ToolCall.Arguments
	}
	return ev.String()
}

func drain(t *testing.T, c *gateway.Call) []string {
	t.Helper()
	var out []string
	for {
		ev, err := c.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		out = append(out, show(ev))
	}
}

func check(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events:\n got  %q\n want %q", got, want)
	}
}

func TestRoute(t *testing.T) {
	router := gateway.NewStaticRouter()
	m := mock.New(mock.Options{})
	router.Register("mock", m)
	router.Register("openai", m)
	router.Alias("fast", gateway.Target{Provider: "openai", Model: "gpt-4o-mini"})
	router.Alias("safe", gateway.Target{Provider: "openai", Model: "a"}, gateway.Target{Provider: "mock", Model: "b"})
	router.Alias("broken", gateway.Target{Provider: "nowhere", Model: "b"})
	tests := []struct {
		model, def         string
		provider, upstream string
		fallback           bool
		code               stream.Code
		msg                string
	}{
		{model: "openai/gpt-4o-mini", provider: "openai", upstream: "gpt-4o-mini"},
		{model: "mock/default?tokens=5", provider: "mock", upstream: "default?tokens=5"},
		{model: "mock/a/b", provider: "mock", upstream: "a/b"},
		{model: "fast", provider: "openai", upstream: "gpt-4o-mini"},
		{model: "safe", provider: "openai", upstream: "a", fallback: true},
		{model: "stories260K", def: "mock", provider: "mock", upstream: "stories260K"},
		{model: "meta-llama/Llama-3.1-8B", def: "openai", provider: "openai", upstream: "meta-llama/Llama-3.1-8B"},
		{model: "stories260K", code: stream.CodeNotFound,
			msg: `model "stories260K" not found: use an alias, a provider/model name (providers: mock, openai) or one of GET /v1/models`},
		{model: "vllm/llama", code: stream.CodeNotFound},
		{model: "mock/", code: stream.CodeNotFound},
		{model: "", def: "mock", code: stream.CodeInvalidRequest, msg: "model is required"},
		{model: "broken", code: stream.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.model+"@"+tt.def, func(t *testing.T) {
			router.SetDefault(tt.def)
			p, prov, up, err := router.Route(tt.model)
			if tt.code != "" {
				var e *stream.Error
				if !errors.As(err, &e) || e.Code != tt.code || (tt.msg != "" && e.Message != tt.msg) {
					t.Fatalf("err = %v, want %s %q", err, tt.code, tt.msg)
				}
				if tt.code == stream.CodeNotFound && (e.Param != "model" || !strings.Contains(e.Message, fmt.Sprintf("%q", tt.model))) {
					t.Fatalf("error %+v must name the model", e)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if prov != tt.provider || up != tt.upstream {
				t.Fatalf("routed to %s, %q; want %s, %q", prov, up, tt.provider, tt.upstream)
			}
			if _, isFB := p.(*gateway.Fallback); isFB != tt.fallback {
				t.Fatalf("fallback = %v", isFB)
			}
		})
	}
}

func TestStartNormal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prices := gateway.Prices{"mock/default": {InputPerMillion: 3, OutputPerMillion: 15}}
		r := newRig(prices)
		req := chat("mock/default?tokens=4&text=Hi+there&ttft=5ms&itl=2ms")
		c, err := r.gw.Start(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if c.Provider != "mock" || c.Model != "default?tokens=4&text=Hi+there&ttft=5ms&itl=2ms" || !strings.HasPrefix(c.ID, "call_") {
			t.Fatalf("call %s %s %s", c.ID, c.Provider, c.Model)
		}
		check(t, drain(t, c), "d:Hi", "d: there", "d: Hi", "d: there", "usage:8/4", "finish:stop")
		sum := c.Summary()
		c.Close()
		c.Close() // idempotent
		rec := r.acc.only(t)
		if rec.Output != "Hi there Hi there" || rec.Status != "ok" || rec.Finish != stream.FinishStop || rec.Err != nil {
			t.Fatalf("record %+v", rec)
		}
		if rec.TTFT != 5*time.Millisecond || rec.Duration != 11*time.Millisecond {
			t.Fatalf("TTFT %v, duration %v (virtual time)", rec.TTFT, rec.Duration)
		}
		if rec.Usage != (stream.Usage{PromptTokens: promptTokens, CompletionTokens: 4}) {
			t.Fatalf("usage %+v", rec.Usage)
		}
		// 8 × 3 / 1e6 and 4 × 15 / 1e6.
		if rec.Cost.Input != 0.000024 || rec.Cost.Output != 0.00006 || rec.Cost.Total != rec.Cost.Input+rec.Cost.Output {
			t.Fatalf("cost %+v", rec.Cost)
		}
		if sum.Cost != rec.Cost || sum.Usage != rec.Usage || sum.TTFT != rec.TTFT || len(sum.Warnings) != 1 {
			t.Fatalf("summary %+v", sum)
		}
		if rec.Request != req || rec.ID != c.ID || rec.Provider != "mock" {
			t.Fatalf("record %+v", rec)
		}
		o := r.obs
		if o.started != 1 || o.first != 1 || o.gaps != 3 || len(o.ended) != 1 || o.ttft != 5*time.Millisecond || o.gapTotal != 6*time.Millisecond {
			t.Fatalf("observer %+v", o)
		}
		if len(o.labels) != 1 || !o.labels["mock default?tokens=4&text=Hi+there&ttft=5ms&itl=2ms"] {
			t.Fatalf("labels %v", o.labels)
		}
	})
}

func TestControlsApplied(t *testing.T) {
	r := newRig(nil)
	req := chat("mock/default?tokens=10&text=one+two+three+four")
	req.Sampling.Stop = []string{" fo"}
	c, err := r.gw.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// The stop finishes the mock (stream.Finisher), whose usage is exact:
	// the 4 tokens up to the stop, and any the buffer read ahead.
	got := drain(t, c)
	c.Close()
	exact := map[string]bool{"usage:8/4": true, "usage:8/5": true, "usage:8/6": true, "usage:8/7": true, "usage:8/8": true, "usage:8/9": true, "usage:8/10": true}
	if len(got) != 5 || !exact[got[3]] {
		t.Fatalf("usage %q, want the mock's own, 4 to 10 tokens", got)
	}
	check(t, append(got[:3:3], got[4]), "d:one", "d: two", "d: three", "finish:stop")

	req = chat("mock/default?tokens=10&text=a")
	req.Sampling.MaxTokens = 2
	c, _ = r.gw.Start(context.Background(), req)
	check(t, drain(t, c), "d:a", "d: a", "usage:8/2", "finish:length")
	c.Close()
}

func TestFallback(t *testing.T) {
	t.Run("first fails to start", func(t *testing.T) {
		r := newRig(nil)
		c, err := r.gw.Start(context.Background(), chat("chain"))
		if err != nil {
			t.Fatal(err)
		}
		check(t, drain(t, c), "d:ok", "d: ok", "usage:8/2", "finish:stop")
		c.Close()
		rec := r.acc.only(t)
		if c.Provider != "m2" || rec.Provider != "m2" || rec.Model != "b?tokens=2&text=ok" || rec.Status != "ok" {
			t.Fatalf("served by %s %s; record %s %s %s", c.Provider, c.Model, rec.Provider, rec.Model, rec.Status)
		}
	})
	t.Run("first fails after a token", func(t *testing.T) {
		r := newRig(nil)
		c, err := r.gw.Start(context.Background(), chat("late"))
		if err != nil {
			t.Fatal(err)
		}
		check(t, drain(t, c), "d:x", "usage:~8/1", "error:upstream_error:mock: injected upstream error after 1 tokens", "finish:error")
		c.Close()
		rec := r.acc.only(t)
		if rec.Provider != "mock" || rec.Status != "error" || rec.Output != "x" || rec.Err.Code != stream.CodeUpstream || !rec.Usage.Estimated {
			t.Fatalf("record %+v", rec)
		}
	})
	t.Run("all fail", func(t *testing.T) {
		r := newRig(nil)
		_, err := r.gw.Start(context.Background(), chat("down"))
		var e *stream.Error
		if !errors.As(err, &e) || e.Code != stream.CodeRateLimited || e.UpstreamStatus != 429 {
			t.Fatalf("err = %v, want the last target's 429", err)
		}
		rec := r.acc.only(t)
		if rec.Status != "error" || rec.Err != e || len(r.obs.ended) != 1 || r.obs.started != 1 {
			t.Fatalf("record %+v, observer %+v", rec, r.obs)
		}
	})
}

func TestStartErrors(t *testing.T) {
	r := newRig(nil)
	r.gw = gateway.New(gateway.Options{Router: gateway.NewStaticRouter(), Accountant: r.acc})
	_, err := r.gw.Start(context.Background(), chat("nope"))
	var e *stream.Error
	if !errors.As(err, &e) || e.Code != stream.CodeNotFound {
		t.Fatalf("err = %v", err)
	}
	if rec := r.acc.only(t); rec.Status != "error" || rec.Err.Code != stream.CodeNotFound {
		t.Fatalf("record %+v", rec)
	}

	r = newRig(nil)
	r.acc.deny = stream.Errorf(stream.CodeInsufficientCredit, "no credits left")
	_, err = r.gw.Start(context.Background(), chat("mock/default"))
	if !errors.As(err, &e) || e.Code != stream.CodeInsufficientCredit {
		t.Fatalf("err = %v", err)
	}
	if len(r.acc.records) != 0 || r.obs.started != 0 {
		t.Fatal("a call that was not admitted is not recorded")
	}

	r = newRig(nil)
	_, err = r.gw.Start(context.Background(), chat("mock/default?status=503"))
	if !errors.As(err, &e) || e.Code != stream.CodeUpstream || e.UpstreamStatus != 503 {
		t.Fatalf("err = %v", err)
	}
	if rec := r.acc.only(t); rec.Status != "error" || rec.Provider != "mock" {
		t.Fatalf("record %+v", rec)
	}
}

func TestClientCloseMidway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(nil)
		c, err := r.gw.Start(context.Background(), chat("mock/default?tokens=100&text=tok&itl=1ms"))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			c.Recv()
		}
		time.Sleep(10 * time.Millisecond) // the buffer reads ahead meanwhile
		c.Close()
		if _, err := c.Recv(); err != io.EOF {
			t.Fatalf("Recv after Close = %v", err)
		}
		rec := r.acc.only(t)
		// The record holds what the client got, not what was buffered.
		if rec.Output != "tok tok tok" || rec.Status != "cancelled" || rec.Finish != stream.FinishCancelled {
			t.Fatalf("record %+v", rec)
		}
		if want := (gateway.ApproxCounter{}).Count("", "tok tok tok"); !rec.Usage.Estimated || rec.Usage.CompletionTokens != want {
			t.Fatalf("usage %+v, want %d estimated completion tokens", rec.Usage, want)
		}
		c.Close()
		if len(r.acc.records) != 1 || len(r.obs.ended) != 1 {
			t.Fatal("Done must be called exactly once")
		}
	})
}

func TestCloseDuringRecv(t *testing.T) {
	r := newRig(nil)
	c, err := r.gw.Start(context.Background(), chat("mock/default?hang_after=1&text=a&tokens=5"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []string)
	go func() { got <- drain(t, c) }()
	time.Sleep(time.Millisecond) // not an assertion: Close may come before or during Recv
	c.Close()
	evs := <-got
	if len(evs) > 1 && evs[0] != "d:a" {
		t.Fatalf("events %q", evs)
	}
	if rec := r.acc.only(t); rec.Status != "cancelled" {
		t.Fatalf("record %+v", rec)
	}
}

func TestContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(nil)
		ctx, cancel := context.WithCancel(context.Background())
		c, err := r.gw.Start(ctx, chat("mock/default?hang_after=2&text=a&tokens=5"))
		if err != nil {
			t.Fatal(err)
		}
		c.Recv()
		c.Recv()
		go func() {
			synctest.Wait()
			cancel()
		}()
		check(t, drain(t, c), "usage:~8/1", "finish:cancelled")
		c.Close()
		if rec := r.acc.only(t); rec.Status != "cancelled" || rec.Output != "a a" {
			t.Fatalf("record %+v", rec)
		}
	})
}

func TestTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(nil, func(o *gateway.Options) { o.Timeouts = stream.Timeouts{Idle: 500 * time.Millisecond, Total: time.Hour} })
		req := chat("mock/default?ttft=1h")
		req.Timeouts.FirstToken = 2 * time.Second
		c, err := r.gw.Start(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		check(t, drain(t, c), "usage:~8/0", "error:timeout:first-token timeout: no token within 2s", "finish:error")
		c.Close()
		if rec := r.acc.only(t); rec.Status != "timeout" || rec.Duration != 2*time.Second || rec.Err.Code != stream.CodeTimeout {
			t.Fatalf("record %+v", rec)
		}

		// The gateway's default idle timeout applies when the request sets none.
		r = newRig(nil, func(o *gateway.Options) { o.Timeouts = stream.Timeouts{Idle: 500 * time.Millisecond} })
		c, _ = r.gw.Start(context.Background(), chat("mock/default?hang_after=1&text=a&tokens=5"))
		check(t, drain(t, c), "d:a", "usage:~8/1", "error:timeout:idle timeout: no token for 500ms", "finish:error")
		c.Close()
		if rec := r.acc.only(t); rec.Status != "timeout" || rec.Output != "a" {
			t.Fatalf("record %+v", rec)
		}
	})
}

// words is an exact Counter for tests: one token per space-separated word.
type words struct{}

func (words) Count(model, text string) int { return len(strings.Fields(text)) }

func TestEstimatedUsage(t *testing.T) {
	prices := gateway.Prices{"fast": {InputPerMillion: 1e6, OutputPerMillion: 2e6}, "m2/x": {InputPerMillion: 5, OutputPerMillion: 5}}
	r := newRig(prices, func(o *gateway.Options) { o.Counter = words{} })
	req := chat("mock/default?tokens=3&text=one+two+three&think=2&usage=0")
	c, _ := r.gw.Start(context.Background(), req)
	check(t, drain(t, c), "t:Let", "t: me", "d:one", "d: two", "d: three", "usage:~5/5", "finish:stop")
	c.Close()
	rec := r.acc.only(t)
	if rec.Usage != (stream.Usage{PromptTokens: 5, CompletionTokens: 5, ReasoningTokens: 2, Estimated: true}) || rec.Thinking != "Let me" {
		t.Fatalf("record %+v", rec)
	}

	// Prices: the name the client used wins over provider/model.
	c, _ = r.gw.Start(context.Background(), chat("fast"))
	check(t, drain(t, c), "d:second", "d: second", "usage:8/2", "finish:stop")
	c.Close()
	if got := r.acc.records[1].Cost; got != (gateway.Cost{Input: 8, Output: 4, Total: 12}) {
		t.Fatalf("cost %+v", got)
	}
	if got := c.Summary().Cost; got.Total != 12 {
		t.Fatalf("summary cost %+v", got)
	}
}

func TestApproxCounter(t *testing.T) {
	for text, want := range map[string]int{"": 0, "a": 1, "abcd": 1, "abcde": 2, "héllo wörld": 3} {
		if got := (gateway.ApproxCounter{}).Count("m", text); got != want {
			t.Errorf("Count(%q) = %d, want %d", text, got, want)
		}
	}
}

func TestModels(t *testing.T) {
	r := newRig(nil)
	ms, err := r.gw.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID+"@"+m.Provider)
	}
	check(t, ids, "chain@mock", "down@mock", "fast@m2", "late@mock", "m2/default@m2", "mock/default@mock")
}

func TestToolCallRecorded(t *testing.T) {
	r := newRig(nil)
	c, _ := r.gw.Start(context.Background(), chat(`mock/default?tokens=1&text=ok&tool=get_weather&tool_args={"city":"Paris"}`))
	check(t, drain(t, c), "d:ok", "tool:get_weather", `tool:{"city":"Paris"}`, "usage:8/10", "finish:tool_calls")
	c.Close()
	rec := r.acc.only(t)
	if len(rec.ToolCalls) != 1 || rec.ToolCalls[0] != (stream.ToolCall{ID: "call_mock_0", Name: "get_weather", Arguments: `{"city":"Paris"}`}) {
		t.Fatalf("tool calls %+v", rec.ToolCalls)
	}
}

// TestManyAborted starts many streams and closes each mid-way; goleak in
// TestMain then checks that nothing was left running.
func TestManyAborted(t *testing.T) {
	r := newRig(nil)
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := r.gw.Start(context.Background(), chat(fmt.Sprintf("mock/default?tokens=1000&text=t%d&itl=100us", i)))
			if err != nil {
				t.Error(err)
				return
			}
			for range 3 {
				c.Recv()
			}
			c.Close()
		}()
	}
	wg.Wait()
	if len(r.acc.records) != 1000 {
		t.Fatalf("%d records", len(r.acc.records))
	}
	for _, rec := range r.acc.records {
		if rec.Status != "cancelled" {
			t.Fatalf("record %+v", rec)
		}
	}
}

var _ dialect.Gateway = (*gateway.Gateway)(nil)

// BenchmarkGatewayToken reads b.N tokens of one call through the whole
// gateway (controls, meter, observer) from the mock, against the mock read
// directly in the same run.
func BenchmarkGatewayToken(b *testing.B) {
	model := func(n int) string { return fmt.Sprintf("mock/default?tokens=%d&text=tok", n) }
	b.Run("mock-direct", func(b *testing.B) {
		b.ReportAllocs()
		s, _ := mock.New(mock.Options{}).Stream(context.Background(), chat(model(b.N)))
		defer s.Close()
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
	})
	b.Run("gateway", func(b *testing.B) {
		b.ReportAllocs()
		r := newRig(nil)
		req := chat(model(b.N))
		req.Sampling.Stop = []string{"</answer>"}
		req.Timeouts = stream.Timeouts{FirstToken: time.Minute, Idle: time.Minute}
		c, err := r.gw.Start(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for {
			if _, err := c.Recv(); err != nil {
				break
			}
		}
	})
}

// TestCloseCancelsUpstream shows the provider's context is cancelled by
// Close, whether the stream was read to the end or not.
func TestCloseCancelsUpstream(t *testing.T) {
	for _, readAll := range []bool{false, true} {
		var upstream context.Context
		p := stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
			upstream = ctx
			return mock.New(mock.Options{}).Stream(ctx, req)
		})
		router := gateway.NewStaticRouter()
		router.Register("p", p)
		gw := gateway.New(gateway.Options{Router: router})
		c, err := gw.Start(context.Background(), chat("p/default?tokens=50"))
		if err != nil {
			t.Fatal(err)
		}
		c.Recv()
		if readAll {
			drain(t, c)
		} else if upstream.Err() != nil {
			t.Fatal("upstream cancelled before Close")
		}
		c.Close()
		if upstream.Err() == nil {
			t.Fatalf("readAll=%v: the upstream context is still live after Close", readAll)
		}
	}
	if _, err := gateway.New(gateway.Options{}).Start(context.Background(), chat("x")); stream.AsError(err).Code != stream.CodeNotFound {
		t.Fatalf("no router: err = %v", err)
	}
}

// A call that ends normally is recorded before Recv reports its end, so a
// record stored synchronously is durable before the client can see the call
// end; Close afterwards hands nothing over again.
func TestRecordedBeforeEnd(t *testing.T) {
	r := newRig(nil)
	c, err := r.gw.Start(context.Background(), chat("mock/default?text=one%20two"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := c.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	rec := r.acc.only(t)
	if rec.Status != "ok" || rec.Output != "one two" || rec.Usage.CompletionTokens != 2 {
		t.Fatalf("record at the end of the stream = %+v", rec)
	}
	c.Close()
	r.acc.only(t)
}

// A request's own timeouts (seed 003's timeout_ms) shorten the server's,
// never lengthen them.
func TestRequestTimeoutsWithinServerLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(nil, func(o *gateway.Options) { o.Timeouts = stream.Timeouts{Total: time.Hour} })
		req := chat("mock/default?tokens=100&itl=100ms")
		req.Timeouts.Total = 300 * time.Millisecond
		c, err := r.gw.Start(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got := drain(t, c)
		c.Close()
		if got[len(got)-2] != "error:timeout:total timeout: the stream exceeded 300ms" {
			t.Fatalf("events %q", got)
		}

		r = newRig(nil, func(o *gateway.Options) { o.Timeouts = stream.Timeouts{Total: time.Second} })
		req = chat("mock/default?tokens=100&itl=100ms")
		req.Timeouts.Total = time.Hour
		c, _ = r.gw.Start(context.Background(), req)
		got = drain(t, c)
		c.Close()
		if got[len(got)-2] != "error:timeout:total timeout: the stream exceeded 1s" {
			t.Fatalf("events %q", got)
		}
	})
}

// A request without a model gets Options.DefaultModel, and one without
// max_tokens gets Options.MaxTokens (the contract's 256); one that sets
// max_tokens keeps it.
func TestDefaultModelAndMaxTokens(t *testing.T) {
	r := newRig(nil, func(o *gateway.Options) { o.DefaultModel = "m2/x?tokens=9"; o.MaxTokens = 3 })
	c, err := r.gw.Start(context.Background(), chat(""))
	if err != nil {
		t.Fatal(err)
	}
	check(t, drain(t, c), "d:second", "d: second", "d: second", "usage:8/3", "finish:length")
	c.Close()
	if rec := r.acc.only(t); rec.Provider != "m2" || rec.Request.Model != "m2/x?tokens=9" {
		t.Fatalf("record %+v", rec)
	}
	req := chat("")
	req.Sampling.MaxTokens = 5
	c, _ = r.gw.Start(context.Background(), req)
	if got := drain(t, c); len(got) != 7 || got[6] != "finish:length" {
		t.Fatalf("events %q", got)
	}
	c.Close()

	// Without a default model, a request that names none is a 400.
	if _, err := gateway.New(gateway.Options{}).Start(context.Background(), chat("")); stream.AsError(err).Param != "model" {
		t.Fatalf("err %v", err)
	}
}

// counted is a stream of n deltas then a finish that counts its Recv calls.
type counted struct {
	n     int
	calls atomic.Int64
}

func (c *counted) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	return c, nil
}

func (c *counted) Recv() (stream.Event, error) {
	i := int(c.calls.Add(1)) - 1
	switch {
	case i < c.n:
		return stream.Delta(fmt.Sprintf("t%d ", i)), nil
	case i == c.n:
		return stream.Finished(stream.FinishStop), nil
	}
	return stream.Event{}, io.EOF
}

func (c *counted) Close() error { return nil }

// By default a call is read on the caller's goroutine, as a proxy reads:
// the provider's stream has been asked for exactly as many events as the
// caller took, none ahead. With Options.BufferSize a goroutine reads ahead
// into the buffer without the caller.
func TestReadAhead(t *testing.T) {
	for _, size := range []int{0, 4} {
		p := &counted{n: 20}
		router := gateway.NewStaticRouter()
		router.Register("p", p)
		gw := gateway.New(gateway.Options{Router: router, BufferSize: size})
		c, err := gw.Start(context.Background(), chat("p/x"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if ev, err := c.Recv(); err != nil || ev.Text != fmt.Sprintf("t%d ", i) {
				t.Fatalf("size %d: event %d = %+v, %v", size, i, ev, err)
			}
		}
		if size == 0 {
			if got := p.calls.Load(); got != 3 {
				t.Fatalf("unbuffered: the provider was read %d times for 3 events taken", got)
			}
		} else {
			// The buffer holds size events and the producer one more in
			// hand; poll for it (the deadline only guards a hang).
			for deadline := time.Now().Add(time.Minute); p.calls.Load() < int64(3+size+1); {
				if time.Now().After(deadline) {
					t.Fatalf("buffered: the provider was read %d times, want %d", p.calls.Load(), 3+size+1)
				}
				time.Sleep(time.Millisecond)
			}
		}
		got := drain(t, c)
		c.Close()
		if len(got) != 20-3+2 || got[len(got)-1] != "finish:stop" {
			t.Fatalf("size %d: rest of the stream %q", size, got)
		}
	}
}

// notifier is a provider that says it calls stream.BeforeWait.
type notifier struct{ stream.Provider }

func (notifier) NotifiesBeforeWait() bool { return true }

// A call may be flushed on wait only when its serving provider calls the
// BeforeWait function and no read-ahead goroutine reads it instead.
func TestFlushOnWait(t *testing.T) {
	for _, c := range []struct {
		name   string
		p      stream.Provider
		buffer int
		want   bool
		acc    gateway.Accountant
	}{
		{"notifier", notifier{mock.New(mock.Options{})}, 0, true, nil},
		{"notifier behind a buffer", notifier{mock.New(mock.Options{})}, 4, false, nil},
		{"mock", mock.New(mock.Options{}), 0, false, nil},
		{"notifier, accounted", notifier{mock.New(mock.Options{})}, 0, true, &accountant{}},
		{"mock, accounted", mock.New(mock.Options{}), 0, false, &accountant{}},
	} {
		router := gateway.NewStaticRouter()
		router.Register("p", c.p)
		gw := gateway.New(gateway.Options{Router: router, BufferSize: c.buffer, Accountant: c.acc})
		waits := 0
		ctx := stream.WithBeforeWait(context.Background(), func() { waits++ })
		call, err := gw.Start(ctx, chat("p/x?tokens=2"))
		if err != nil {
			t.Fatal(err)
		}
		if call.FlushOnWait != c.want {
			t.Errorf("%s: FlushOnWait = %v", c.name, call.FlushOnWait)
		}
		drain(t, call)
		call.Close()
		// The meter calls it before handing the record to an Admission,
		// which may take time, whatever the provider; with none, the
		// dialect's last events leave with the rest.
		if want := map[bool]int{true: 1, false: 0}[c.acc != nil]; waits != want {
			t.Errorf("%s: BeforeWait called %d times by the meter, want %d", c.name, waits, want)
		}
	}
}

// liveAtClose is a provider whose stream of one delta and a finish notes
// whether its context was still live when the stream was closed.
type liveAtClose struct {
	ctx    context.Context
	i      int
	closed int
	live   bool
}

func (p *liveAtClose) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	p.ctx = ctx
	return p, nil
}

func (p *liveAtClose) Recv() (stream.Event, error) {
	p.i++
	switch p.i {
	case 1:
		return stream.Delta("a"), nil
	case 2:
		return stream.Finished(stream.FinishStop), nil
	}
	return stream.Event{}, io.EOF
}

func (p *liveAtClose) Close() error {
	if p.closed++; p.closed == 1 {
		p.live = p.ctx.Err() == nil
	}
	return nil
}

// A call that ends normally closes its provider's stream before it
// cancels the provider's context: an upstream stream reads the end of its
// answer then, so that its connection is reused (a request cancelled
// first has its connection closed), and the cancel still follows.
func TestCloseBeforeCancel(t *testing.T) {
	for _, size := range []int{0, 4} {
		p := &liveAtClose{}
		router := gateway.NewStaticRouter()
		router.Register("p", p)
		gw := gateway.New(gateway.Options{Router: router, BufferSize: size})
		c, err := gw.Start(context.Background(), chat("p/x"))
		if err != nil {
			t.Fatal(err)
		}
		if got := drain(t, c); len(got) == 0 || got[len(got)-1] != "finish:stop" {
			t.Fatalf("size %d: events %q", size, got)
		}
		c.Close()
		if p.closed != 1 || !p.live || p.ctx.Err() == nil {
			t.Errorf("size %d: closed %d times, context live at Close %v, cancelled after %v", size, p.closed, p.live, p.ctx.Err() != nil)
		}
	}
}
