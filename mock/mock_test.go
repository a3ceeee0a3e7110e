package mock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode"

	"github.com/runnel/runnel/stream"
)

func show(ev stream.Event) string {
	switch ev.Kind {
	case stream.KindDelta:
		if ev.Channel == stream.Thinking {
			return "t:" + ev.Text
		}
		return "d:" + ev.Text
	case stream.KindToolCall:
		return fmt.Sprintf("tool:%s:%s:%s", ev.ToolCall.ID, ev.ToolCall.Name, ev.ToolCall.Arguments)
	case stream.KindUsage:
		return fmt.Sprintf("usage:%d/%d/%d", ev.Usage.PromptTokens, ev.Usage.CompletionTokens, ev.Usage.ReasoningTokens)
	case stream.KindFinish:
		return "finish:" + string(ev.Finish)
	case stream.KindError:
		return fmt.Sprintf("error:%s:%s", ev.Err.Code, ev.Err.Message)
	}
	return ev.String()
}

func drain(s stream.Stream) []string {
	var out []string
	for {
		ev, err := s.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			return append(out, "ERR:"+err.Error())
		}
		out = append(out, show(ev))
	}
}

func chat(model string, maxTokens int) *stream.Request {
	return &stream.Request{
		Model:    model,
		Messages: []stream.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Say hello, please!"}},
		Sampling: stream.Sampling{MaxTokens: maxTokens},
	}
}

func TestStream(t *testing.T) {
	// The prompt "Be brief." + "Say hello, please!" is 3 + 5 tokens.
	defaultOut := make([]string, len(defaultTokens))
	for i, tok := range defaultTokens {
		defaultOut[i] = "d:" + tok
	}
	tests := []struct {
		name  string
		model string
		max   int
		want  []string
	}{
		{"default text", "default", 0, append(defaultOut, fmt.Sprintf("usage:8/%d/0", len(defaultTokens)), "finish:stop")},
		{"prefixed name", "mock/default?tokens=2", 0, []string{"d:Runnel", "d: streams", "usage:8/2/0", "finish:stop"}},
		{"text cycled", "x?tokens=5&text=hello%20world", 0,
			[]string{"d:hello", "d: world", "d: hello", "d: world", "d: hello", "usage:8/5/0", "finish:stop"}},
		{"text cut", "x?tokens=1&text=hello+world", 0, []string{"d:hello", "usage:8/1/0", "finish:stop"}},
		{"max tokens", "x?tokens=10&text=a", 3, []string{"d:a", "d: a", "d: a", "usage:8/3/0", "finish:length"}},
		{"max tokens not reached", "x?tokens=2&text=a", 3, []string{"d:a", "d: a", "usage:8/2/0", "finish:stop"}},
		{"thinking", "x?think=3&tokens=1&text=ok", 0,
			[]string{"t:Let", "t: me", "t: think", "d:ok", "usage:8/4/3", "finish:stop"}},
		{"thinking cut by max tokens", "x?think=3&tokens=1&text=ok", 2,
			[]string{"t:Let", "t: me", "usage:8/2/2", "finish:length"}},
		{"tool call", `x?tokens=1&text=Checking&tool=get_weather&tool_args={"city":"Paris"}`, 0,
			[]string{"d:Checking", "tool:call_mock_0:get_weather:", `tool:::{"city":"Paris"}`, "usage:8/10/0", "finish:tool_calls"}},
		{"tool call default args", "x?tokens=1&text=a&tool=f", 0,
			[]string{"d:a", "tool:call_mock_0:f:", "tool:::{}", "usage:8/3/0", "finish:tool_calls"}},
		{"error after", "x?tokens=5&text=a&error_after=2", 0,
			[]string{"d:a", "d: a", "error:upstream_error:mock: injected upstream error after 2 tokens", "finish:error"}},
		{"error after the end never fires", "x?tokens=2&text=a&error_after=2", 0, []string{"d:a", "d: a", "usage:8/2/0", "finish:stop"}},
		{"no usage", "x?tokens=1&text=a&usage=0", 0, []string{"d:a", "finish:stop"}},
	}
	p := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := p.Stream(context.Background(), chat(tt.model, tt.max))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := drain(s)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("events:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultTextJoins(t *testing.T) {
	r := stream.Collect(mustStream(t, New(Options{}), chat("default", 0)))
	if r.Text != DefaultText || r.Finish != stream.FinishStop || r.Usage.CompletionTokens != Count(DefaultText) {
		t.Fatalf("%+v", r)
	}
}

func mustStream(t *testing.T, p stream.Provider, req *stream.Request) stream.Stream {
	t.Helper()
	s, err := p.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		model  string
		code   stream.Code
		status int
		msg    string
	}{
		{"x?status=503", stream.CodeUpstream, 503, "mock: upstream answered 503 Service Unavailable"},
		{"x?status=500", stream.CodeUpstream, 500, "mock: upstream answered 500 Internal Server Error"},
		{"x?status=429", stream.CodeRateLimited, 429, "mock: upstream answered 429 Too Many Requests"},
		{"x?status=401", stream.CodeUnauthorized, 401, "mock: upstream answered 401 Unauthorized"},
		{"x?status=404", stream.CodeNotFound, 404, "mock: upstream answered 404 Not Found"},
		{"x?status=200", stream.CodeInvalidRequest, 0, `mock: knob status="200": want an HTTP error status, 400 to 599`},
		{"x?tokens=-1", stream.CodeInvalidRequest, 0, `mock: knob tokens="-1": must not be negative`},
		{"x?ttft=soon", stream.CodeInvalidRequest, 0, `mock: knob ttft="soon": time: invalid duration "soon"`},
		{"x?hang=maybe", stream.CodeInvalidRequest, 0, `mock: knob hang="maybe": strconv.ParseBool: parsing "maybe": invalid syntax`},
		{"x?speed=9", stream.CodeInvalidRequest, 0, `mock: unknown knob "speed" (knobs: ` + strings.Join(Knobs, ", ") + ")"},
		{"x?text=%zz", stream.CodeInvalidRequest, 0, `mock: bad query string in model name "x?text=%zz": invalid URL escape "%zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			_, err := New(Options{}).Stream(context.Background(), chat(tt.model, 0))
			var e *stream.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *stream.Error", err)
			}
			if e.Code != tt.code || e.UpstreamStatus != tt.status || e.Message != tt.msg {
				t.Fatalf("got %s %d %q, want %s %d %q", e.Code, e.UpstreamStatus, e.Message, tt.code, tt.status, tt.msg)
			}
			if e.Code == stream.CodeRateLimited && e.RetryAfter != time.Second {
				t.Fatalf("RetryAfter = %v", e.RetryAfter)
			}
			if e.Code == stream.CodeInvalidRequest && e.Param != "model" {
				t.Fatalf("Param = %q", e.Param)
			}
		})
	}
}

func TestResponseFormatRefused(t *testing.T) {
	p := &Provider{Name: "fake"}
	for _, typ := range []stream.FormatType{stream.FormatJSONObject, stream.FormatJSONSchema} {
		if p.CanFormat("default", typ) {
			t.Errorf("CanFormat(%s) = true", typ)
		}
		req := chat("default", 0)
		req.ResponseFormat = &stream.ResponseFormat{Type: typ}
		_, err := p.Stream(context.Background(), req)
		var e *stream.Error
		want := "response_format " + string(typ) + " is not supported by provider fake: it cannot constrain its output to JSON"
		if !errors.As(err, &e) || e.Code != stream.CodeInvalidRequest || e.Param != "response_format" || e.Message != want {
			t.Errorf("%s: err = %v, want %q", typ, err, want)
		}
	}
	req := chat("default?tokens=2", 0)
	req.ResponseFormat = &stream.ResponseFormat{Type: stream.FormatText}
	s, err := p.Stream(context.Background(), req)
	if err != nil || !p.CanFormat("default", stream.FormatText) {
		t.Fatalf("text refused: %v", err)
	}
	if r := stream.Collect(s); r.Err != nil || r.Text == "" {
		t.Fatalf("text format: %+v", r)
	}
}

// TestTiming checks the schedule in virtual time: token i is due at
// ttft + i*itl, even when the reader is late.
func TestTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := mustStream(t, New(Options{}), chat("x?tokens=4&ttft=5ms&itl=2ms&text=a", 0))
		defer s.Close()
		var at []time.Duration
		for i := 0; ; i++ {
			ev, err := s.Recv()
			if err != nil {
				break
			}
			at = append(at, time.Since(start))
			if i == 1 {
				time.Sleep(3 * time.Millisecond) // a slow reader: token 2 is already due
			}
			_ = ev
		}
		want := []time.Duration{5, 7, 10, 11, 11, 11} // 4 tokens, usage, finish (ms)
		for i := range want {
			want[i] *= time.Millisecond
		}
		if fmt.Sprint(at) != fmt.Sprint(want) {
			t.Fatalf("events at %v, want %v", at, want)
		}
	})
}

func TestOptionsFromConfig(t *testing.T) {
	o, err := ParseKnobs(map[string]string{"tokens": "3", "itl": "1ms", "text": "hi"}, Options{Think: 1})
	if err != nil {
		t.Fatal(err)
	}
	if o != (Options{Tokens: 3, ITL: time.Millisecond, Text: "hi", Think: 1}) {
		t.Fatalf("%+v", o)
	}
	// The model's query string overrides the provider's defaults.
	p := New(o)
	r := stream.Collect(mustStream(t, p, chat("default?tokens=1&think=0", 0)))
	if r.Text != "hi" || r.Thinking != "" || r.Usage.CompletionTokens != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestCancellation(t *testing.T) {
	for _, model := range []string{"x?hang=1", "x?hang_after=2&text=a&tokens=5", "x?ttft=1h", "x?itl=1h&text=a&tokens=5"} {
		for _, how := range []string{"ctx", "close"} {
			t.Run(model+"/"+how, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					start := time.Now()
					s, err := New(Options{}).Stream(ctx, chat(model, 0))
					if err != nil {
						t.Fatal(err)
					}
					got := make(chan []string)
					go func() { got <- drain(s) }()
					synctest.Wait() // blocked in a hang or a delay
					if how == "ctx" {
						cancel()
					} else {
						s.Close()
					}
					evs := <-got
					if last := evs[len(evs)-1]; last != "ERR:context canceled" {
						t.Fatalf("events %q, want to end with the cancellation", evs)
					}
					if strings.Contains(model, "hang_after") && len(evs) != 3 {
						t.Fatalf("events %q, want 2 tokens first", evs)
					}
					if d := time.Since(start); d != 0 && !strings.Contains(model, "itl") {
						t.Fatalf("cancellation took %v of virtual time", d)
					}
					s.Close()
				})
			})
		}
	}
}

func TestModels(t *testing.T) {
	ms, _ := (&Provider{Name: "demo"}).Models(context.Background())
	if len(ms) != 1 || ms[0].ID != "demo/default" || ms[0].Provider != "demo" {
		t.Fatalf("%+v", ms)
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"Hello, world!", []string{"Hello", ",", " world", "!"}},
		{"  leading and trailing  ", []string{"  leading", " and", " trailing"}},
		{"don't stop\n\nNext", []string{"don't", " stop", "\n\nNext"}},
		{"café 42x €5", []string{"café", " 42x", " €", "5"}},
		{"", nil},
		{"   ", nil},
	}
	for _, tt := range tests {
		got := Tokens(tt.text)
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("Tokens(%q) = %q, want %q", tt.text, got, tt.want)
		}
		if Count(tt.text) != len(tt.want) {
			t.Errorf("Count(%q) = %d", tt.text, Count(tt.text))
		}
	}
}

func FuzzTokens(f *testing.F) {
	f.Add("Hello, world!")
	f.Add("a\xffb \u00a0c")
	f.Fuzz(func(t *testing.T, text string) {
		toks := Tokens(text)
		if Count(text) != len(toks) {
			t.Fatalf("Count %d != %d tokens", Count(text), len(toks))
		}
		if j := strings.Join(toks, ""); j != strings.TrimRightFunc(text, unicode.IsSpace) {
			// Invalid UTF-8 decodes as U+FFFD, which is not a space, so
			// trimming by runes and by tokens agree.
			t.Fatalf("joined %q from %q", j, text)
		}
		for _, tok := range toks {
			if strings.TrimSpace(tok) == "" {
				t.Fatalf("empty token %q", tok)
			}
		}
	})
}
