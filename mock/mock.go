// Package mock is Runnel's deterministic, scriptable provider: for tests,
// demos and benchmarks. Every stream is a function of its knobs and the
// request alone, so tests can assert exact text, usage and event order.
//
// Knobs come from Options (in YAML config, `mock:` under a mock provider) and
// are overridden per request by the query string of the model name, as in
// mock/default?tokens=20&ttft=5ms&itl=1ms:
//
//	tokens=N       output tokens to send (default: the text once over)
//	text=STR       text to send (URL-escaped); its tokens are cycled (each
//	               round after the first led by a space) or cut to the
//	               token count (default: DefaultText)
//	ttft=DUR       time to first token, from the call (default 0)
//	itl=DUR        delay between tokens (default 0); token i is due at
//	               ttft + i*itl after the call, whatever the reader does
//	think=N        thinking tokens sent before the output (default 0)
//	tool=NAME      end with a call of tool NAME (finish "tool_calls")
//	tool_args=JSON the tool call's arguments (default {})
//	error_after=N  after N tokens, fail with an upstream error event
//	hang=1         send nothing until cancelled (after the headers)
//	hang_after=N   send N tokens, then nothing until cancelled
//	status=CODE    fail to start as an upstream answering HTTP CODE would:
//	               429 is rate_limited, 5xx upstream_error, other 4xx map to
//	               their codes; UpstreamStatus is CODE
//	usage=0        send no usage event (as some upstreams do)
//
// Tokens are word-ish: each is its leading whitespace plus a run of letters,
// digits and apostrophes, or plus one other character; see Tokens. Usage is
// exact: the prompt's tokens (every message's content and the raw prompt,
// counted by the same splitter) and the tokens sent. Sampling.MaxTokens caps
// thinking plus output tokens and then finishes with "length".
//
// A request whose last message is the assistant's is a continuation (as
// Anthropic's prefill): that message is the start of the answer, already
// sent. The mock continues its script after as many output tokens as the
// prefix holds, with no thinking (the answer has begun), and reports the
// usage of the whole answer: the prompt without the prefix, and every
// token of the script up to the end. So a call cut short and continued
// from its text so far streams, in all, exactly what one uninterrupted
// call does.
//
// Streams are pull-based: no goroutine, delays are timers, and cancellation
// of ctx or Close ends a wait at once. They are stream.Finishers: Finish
// ends a wait (or a hang) at once too, and the stream ends with the usage of
// the tokens sent so far and the reason asked for.
package mock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// DefaultText is what the mock says when no text is set.
const DefaultText = "Runnel streams every token the moment it exists. " +
	"A slow reader pauses the producer, a closed connection cancels the work upstream, " +
	"and each call ends with exact usage and cost."

// DefaultThinking is the mock's reasoning text, cycled for think=N.
const DefaultThinking = "Let me think about this step by step."

// Options are the mock's knobs; see the package comment. The zero value
// sends DefaultText at full speed.
type Options struct {
	Tokens     int           `yaml:"tokens" json:"tokens"`
	Text       string        `yaml:"text" json:"text"`
	TTFT       time.Duration `yaml:"ttft" json:"ttft"`
	ITL        time.Duration `yaml:"itl" json:"itl"`
	Think      int           `yaml:"think" json:"think"`
	Tool       string        `yaml:"tool" json:"tool"`
	ToolArgs   string        `yaml:"tool_args" json:"tool_args"`
	ErrorAfter int           `yaml:"error_after" json:"error_after"` // 0 = never
	Hang       bool          `yaml:"hang" json:"hang"`
	HangAfter  int           `yaml:"hang_after" json:"hang_after"` // 0 = never
	Status     int           `yaml:"status" json:"status"`         // 0 = start normally
	NoUsage    bool          `yaml:"no_usage" json:"no_usage"`
}

// Knobs names the knobs a model's query string (or a config map) may set.
var Knobs = []string{"tokens", "text", "ttft", "itl", "think", "tool", "tool_args",
	"error_after", "hang", "hang_after", "status", "usage"}

// With returns o with the knobs in q applied. Errors are *stream.Error
// naming the knob.
func (o Options) With(q url.Values) (Options, error) {
	for key, vals := range q {
		if len(vals) == 0 {
			continue
		}
		v := vals[len(vals)-1]
		var err error
		switch key {
		case "tokens":
			o.Tokens, err = count(v)
		case "text":
			o.Text = v
		case "ttft":
			o.TTFT, err = duration(v)
		case "itl":
			o.ITL, err = duration(v)
		case "think":
			o.Think, err = count(v)
		case "tool":
			o.Tool = v
		case "tool_args":
			o.ToolArgs = v
		case "error_after":
			o.ErrorAfter, err = count(v)
		case "hang":
			o.Hang, err = strconv.ParseBool(v)
		case "hang_after":
			o.HangAfter, err = count(v)
		case "status":
			o.Status, err = strconv.Atoi(v)
			if err == nil && (o.Status < 400 || o.Status > 599) {
				err = fmt.Errorf("want an HTTP error status, 400 to 599")
			}
		case "usage":
			var on bool
			on, err = strconv.ParseBool(v)
			o.NoUsage = !on
		default:
			return o, stream.InvalidParam("model", "mock: unknown knob %q (knobs: %s)", key, strings.Join(Knobs, ", "))
		}
		if err != nil {
			return o, stream.InvalidParam("model", "mock: knob %s=%q: %v", key, v, err)
		}
	}
	return o, nil
}

// ParseKnobs returns base with the knobs of a config map applied.
func ParseKnobs(knobs map[string]string, base Options) (Options, error) {
	q := make(url.Values, len(knobs))
	for k, v := range knobs {
		q.Set(k, v)
	}
	return base.With(q)
}

func count(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err == nil && n < 0 {
		err = fmt.Errorf("must not be negative")
	}
	return n, err
}

func duration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err == nil && d < 0 {
		err = fmt.Errorf("must not be negative")
	}
	return d, err
}

// Provider is the mock provider. It implements stream.Provider and
// gateway.ModelLister.
type Provider struct {
	// Name is the provider's routing name (default "mock").
	Name    string
	Options Options
}

// New returns a mock provider named "mock" with default knobs o.
func New(o Options) *Provider { return &Provider{Name: "mock", Options: o} }

func (p *Provider) name() string {
	if p.Name == "" {
		return "mock"
	}
	return p.Name
}

// Models lists NAME/default.
func (p *Provider) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	return []gateway.ModelInfo{{
		ID: p.name() + "/default", Provider: p.name(), OwnedBy: "runnel",
		Created: time.Unix(1767225600, 0).UTC(), ContextLength: 1 << 20,
	}}, nil
}

// OptionsFor returns the knobs for a model name: p's defaults overridden by the
// name's query string. The name may carry the provider prefix or not.
func (p *Provider) OptionsFor(model string) (Options, error) {
	_, query, _ := strings.Cut(model, "?")
	if query == "" {
		return p.Options, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return p.Options, stream.InvalidParam("model", "mock: bad query string in model name %q: %v", model, err)
	}
	return p.Options.With(q)
}

// CanFormat implements gateway.FormatChecker: the mock's text is scripted,
// never JSON, so it takes free text only and Stream refuses the rest.
func (p *Provider) CanFormat(model string, t stream.FormatType) bool { return t == stream.FormatText }

// Stream starts a scripted stream for req.
func (p *Provider) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	if req.ResponseFormat.IsJSON() {
		return nil, stream.FormatUnsupported(p.name(), req.ResponseFormat)
	}
	o, err := p.OptionsFor(req.Model)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, stream.AsError(err)
	}
	start := time.Now()
	if o.Status != 0 {
		return nil, statusError(o.Status)
	}
	text := DefaultText
	if o.Text != "" {
		text = o.Text
	}
	s := &mockStream{
		ctx: ctx, o: o, start: start, done: make(chan struct{}), wake: make(chan struct{}),
		out: defaultTokens, thought: thinkingTokens,
	}
	if o.Text != "" {
		s.out = Tokens(text)
	}
	s.nOut = o.Tokens
	if s.nOut == 0 {
		s.nOut = len(s.out)
	}
	if len(s.out) == 0 { // text of nothing but spaces
		s.nOut = 0
	} else if s.nOut > len(s.out) {
		s.again = s.out[0]
		if r, _ := utf8.DecodeRuneInString(s.again); !unicode.IsSpace(r) {
			s.again = " " + s.again
		}
	}
	s.nThink = o.Think
	if max := req.Sampling.MaxTokens; max > 0 && s.nThink+s.nOut > max {
		s.truncated = true
		s.nThink = min(s.nThink, max)
		s.nOut = max - s.nThink
	}
	if prefix, ok := Prefix(req); ok {
		s.sent = s.nThink + min(len(Tokens(prefix)), s.nOut)
	}
	s.usage.PromptTokens = PromptTokens(req)
	return s, nil
}

// CountTokens implements gateway.PromptCounter: PromptTokens, exactly what
// a call's usage reports. A model whose knobs make calls fail (status)
// fails its count too, as an upstream that is down would.
func (p *Provider) CountTokens(ctx context.Context, req *stream.Request) (int, error) {
	o, err := p.OptionsFor(req.Model)
	if err != nil {
		return 0, err
	}
	if o.Status != 0 {
		return 0, statusError(o.Status)
	}
	return PromptTokens(req), nil
}

// Prefix returns the assistant's answer begun in req (its last message,
// if the assistant's), which the mock continues.
func Prefix(req *stream.Request) (string, bool) {
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == "assistant" {
		return req.Messages[n-1].Content, true
	}
	return "", false
}

// CanContinue implements gateway.Continuer: every mock model continues an
// answer begun (see Prefix).
func (p *Provider) CanContinue(model string) bool { return true }

var (
	defaultTokens  = Tokens(DefaultText)
	thinkingTokens = Tokens(DefaultThinking)
)

// PromptTokens counts req's prompt as the mock does for usage: an answer
// begun (Prefix) is not part of it.
func PromptTokens(req *stream.Request) int {
	n := Count(req.Prompt)
	msgs := req.Messages
	if _, ok := Prefix(req); ok {
		msgs = msgs[:len(msgs)-1]
	}
	for _, m := range msgs {
		n += Count(m.Content)
	}
	return n
}

func statusError(status int) *stream.Error {
	code := stream.CodeUpstream
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		code = stream.CodeInvalidRequest
	case http.StatusUnauthorized:
		code = stream.CodeUnauthorized
	case http.StatusPaymentRequired:
		code = stream.CodeInsufficientCredit
	case http.StatusForbidden:
		code = stream.CodeForbidden
	case http.StatusNotFound:
		code = stream.CodeNotFound
	case http.StatusRequestEntityTooLarge:
		code = stream.CodeTooLarge
	case http.StatusTooManyRequests:
		code = stream.CodeRateLimited
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		code = stream.CodeTimeout
	}
	e := &stream.Error{
		Code:           code,
		Message:        fmt.Sprintf("mock: upstream answered %d %s", status, http.StatusText(status)),
		UpstreamStatus: status,
	}
	if code == stream.CodeRateLimited {
		e.RetryAfter = time.Second
	}
	return e
}

type mockStream struct {
	ctx   context.Context
	o     Options
	start time.Time
	done  chan struct{}
	once  sync.Once
	timer *time.Timer
	// Finish sets fin and closes wake, from any goroutine; Recv then
	// settles on stopping, the reason it ends with.
	fin      stream.FinishRequest
	wake     chan struct{}
	wakeOnce sync.Once
	stopping stream.FinishReason

	out, thought []string // token cycles
	again        string   // out[0] when it starts a later round
	nThink, nOut int      // tokens to send
	truncated    bool     // cut by max_tokens
	sent         int      // content tokens sent
	step         int      // timed events sent
	toolStep     int      // tool-call events sent
	usage        stream.Usage
	usageSent    bool
	failed       bool // the injected error was sent; Finish(error) is next
	ended        bool
}

func (s *mockStream) Recv() (stream.Event, error) {
	if s.ended {
		return stream.Event{}, io.EOF
	}
	if s.failed {
		s.ended = true
		return stream.Finished(stream.FinishError), nil
	}
	select {
	case <-s.done:
		return stream.Event{}, context.Canceled
	default:
	}
	if s.finishing() {
		return s.wrapUp()
	}
	o := &s.o
	if o.Hang || (o.HangAfter > 0 && s.sent == o.HangAfter) {
		if err := s.hang(); err != errWoken {
			return stream.Event{}, err
		}
		return s.wrapUp()
	}
	if o.ErrorAfter > 0 && s.sent == o.ErrorAfter && s.sent < s.nThink+s.nOut {
		if err := s.waitSlot(s.step); err == errWoken {
			return s.wrapUp()
		} else if err != nil {
			return stream.Event{}, err
		}
		s.failed = true
		return stream.ErrorEvent(&stream.Error{Code: stream.CodeUpstream,
			Message: fmt.Sprintf("mock: injected upstream error after %d tokens", s.sent)}), nil
	}
	switch {
	case s.sent < s.nThink+s.nOut:
		if err := s.waitSlot(s.step); err == errWoken {
			return s.wrapUp()
		} else if err != nil {
			return stream.Event{}, err
		}
		s.step++
		if s.sent < s.nThink {
			s.sent++
			i := s.sent - 1
			if i >= len(s.thought) && i%len(s.thought) == 0 {
				return stream.ThinkingDelta(" " + s.thought[0]), nil // rare: long thinking
			}
			return stream.ThinkingDelta(s.thought[i%len(s.thought)]), nil
		}
		i := s.sent - s.nThink
		s.sent++
		if i >= len(s.out) && i%len(s.out) == 0 {
			return stream.Delta(s.again), nil
		}
		return stream.Delta(s.out[i%len(s.out)]), nil
	case o.Tool != "" && !s.truncated && s.toolStep < 2:
		if s.toolStep == 0 {
			if err := s.waitSlot(s.step); err == errWoken {
				return s.wrapUp()
			} else if err != nil {
				return stream.Event{}, err
			}
		}
		s.toolStep++
		s.step++
		if s.toolStep == 1 {
			return stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{ID: "call_mock_0", Name: o.Tool}}, nil
		}
		args := o.ToolArgs
		if args == "" {
			args = "{}"
		}
		s.usage.CompletionTokens += Count(args)
		return stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Arguments: args}}, nil
	case !o.NoUsage && !s.usageSent:
		s.usageSent = true
		s.usage.CompletionTokens += s.sent
		s.usage.ReasoningTokens = s.nThink
		return stream.UsageEvent(s.usage), nil
	}
	s.ended = true
	reason := stream.FinishStop
	switch {
	case s.truncated:
		reason = stream.FinishLength
	case o.Tool != "":
		reason = stream.FinishToolCalls
	}
	return stream.Finished(reason), nil
}

// waitSlot waits until event slot i is due: ttft + i*itl after the start.
func (s *mockStream) waitSlot(i int) error {
	d := time.Until(s.start.Add(s.o.TTFT + time.Duration(i)*s.o.ITL))
	if d <= 0 {
		return s.ctx.Err()
	}
	if s.timer == nil {
		s.timer = time.NewTimer(d)
	} else {
		s.timer.Reset(d)
	}
	select {
	case <-s.timer.C:
		return nil
	case <-s.ctx.Done():
		s.timer.Stop()
		return s.ctx.Err()
	case <-s.done:
		s.timer.Stop()
		return context.Canceled
	case <-s.wake:
		s.timer.Stop()
		return errWoken
	}
}

func (s *mockStream) hang() error {
	select {
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-s.done:
		return context.Canceled
	case <-s.wake:
		return errWoken
	}
}

// errWoken ends a wait when Finish was called.
var errWoken = errors.New("mock: finish requested")

// Finish implements stream.Finisher: the stream sends no more content, then
// its usage (the tokens sent so far) and Finish(reason). A stream whose
// content was all sent keeps its own finish.
func (s *mockStream) Finish(reason stream.FinishReason) bool {
	s.fin.Set(reason)
	s.wakeOnce.Do(func() { close(s.wake) })
	return true
}

// finishing reports whether Recv is to wrap up, deciding it on the first
// Recv after Finish: only while content is left to send.
func (s *mockStream) finishing() bool {
	if s.stopping != "" {
		return true
	}
	r, ok := s.fin.Requested()
	if !ok {
		return false
	}
	// A tool call once begun is sent whole.
	if s.sent < s.nThink+s.nOut || (s.o.Tool != "" && !s.truncated && s.toolStep == 0) {
		s.stopping = r
		return true
	}
	return false
}

// wrapUp returns the next event of a stream ended by Finish: its usage,
// unless the mock sends none, then Finish(s.stopping).
func (s *mockStream) wrapUp() (stream.Event, error) {
	if s.stopping == "" {
		s.stopping, _ = s.fin.Requested()
	}
	if !s.o.NoUsage && !s.usageSent {
		s.usageSent = true
		s.usage.CompletionTokens += s.sent
		s.usage.ReasoningTokens = min(s.sent, s.nThink)
		return stream.UsageEvent(s.usage), nil
	}
	s.ended = true
	return stream.Finished(s.stopping), nil
}

// Close ends the stream; a Recv waiting on a delay or a hang returns.
func (s *mockStream) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}
