package anthropic

// Continuing an answer begun (gateway.Continuer): a request whose last
// message is the assistant's, as a client's prefill or as the text so far
// of a stream whose replica died.
//
// What the Messages API does with it (Anthropic's documentation: "Prefill
// Claude's response", "Token counting", the count_tokens reference):
//
//   - A final assistant message is continued: the answer streamed holds
//     only the new text. Its content must not end in white space (a 400,
//     "final assistant content cannot end with trailing whitespace"), and
//     extended thinking refuses a prefill.
//   - input_tokens counts the prefill (it is input); output_tokens and
//     max_tokens count the new tokens only.
//   - POST /v1/messages/count_tokens takes the request's input (model,
//     messages, system, tools, tool_choice, thinking; no max_tokens or
//     sampling fields) and answers {"input_tokens": N}, the final assistant
//     message included. No beta header since it left beta
//     (token-counting-2024-11-01 was one). Its count "may differ by a small
//     amount" from what is billed (it may include tokens the system adds
//     and does not bill), so one count is not the billed input; the
//     difference of two counts, with and without the prefix, is the
//     prefix's tokens.
//
// Hence withPrefill: the prefix is trimmed of trailing white space (and
// dropped again from the start of the rest, which writes it anew); the
// request is counted with and without it, at once; the difference moves
// from the input tokens to the output tokens and comes off max_tokens, so
// the usage is the whole answer's and max_tokens bounds it, as the engine,
// the mock and Ollama do. A prefix that already has max_tokens is answered
// without a generation. Where the count fails (a proxy without the
// endpoint), the prefix's tokens are estimated (gateway.Counter) and
// flagged so, and max_tokens counts only the new ones; that is logged.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"unicode"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

var (
	_ gateway.Continuer     = (*Provider)(nil)
	_ gateway.PromptCounter = (*Provider)(nil)
)

// CanContinue implements gateway.Continuer: the Messages API continues a
// final assistant message (prefill), which is how a stream whose replica
// died is carried on; except on the models it answered do not (Claude
// Opus 4.6 and later refuse a prefill with a 400), which it reports from
// then on, so that their streams end with the interruption at once.
func (p *Provider) CanContinue(model string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.noPrefill[model]
}

// refused notes model as refusing a prefill if err, the answer to a
// prefilled request, says so.
func (p *Provider) refused(model string, err error) {
	se := stream.AsError(err)
	if se.UpstreamStatus != 400 || !strings.Contains(se.Message, "does not support assistant message prefill") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.noPrefill == nil {
		p.noPrefill = map[string]bool{}
	}
	p.noPrefill[model] = true
}

// prefill is a request's answer begun as sent upstream.
type prefill struct {
	ws        string // trailing white space trimmed from the prefix
	tokens    int    // the prefix's tokens, counted by the API (or estimated)
	estimated bool   // tokens is the Counter's estimate: the count failed
	prompt    int    // the request's tokens without the prefix, counted
	complete  bool   // the prefix already has max_tokens: nothing to ask
}

// withPrefill returns req ready to send when its last message is the
// assistant's answer begun: trimmed of trailing white space (dropped if
// nothing is left), with a completion-style prompt kept as the user turn
// before it, max_tokens less the prefix's tokens; and what the answer's
// stream must undo (nil if none). It fails only if ctx ends while
// counting.
func (p *Provider) withPrefill(ctx context.Context, req *stream.Request) (*stream.Request, *prefill, error) {
	without, last, ok := withoutAnswer(req)
	if !ok {
		return req, nil, nil
	}
	text := strings.TrimRightFunc(last.Content, unicode.IsSpace)
	// A copy: the content may be a view of the whole request body
	// (dialect.DecodeJSONOwned), which the stream would keep alive.
	pf := &prefill{ws: strings.Clone(last.Content[len(text):])}
	if text == "" {
		return without, pf, nil
	}
	// Extended thinking refuses a prefilled answer; an answer begun is
	// past its thinking anyway.
	without.Thinking = false
	with := *without
	last.Content = text
	with.Messages = append(without.Messages[:len(without.Messages):len(without.Messages)], last)

	prompt, all, err := p.countBoth(ctx, without, &with)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, err
		}
		slog.Warn("anthropic: counting the tokens of an answer begun failed: they are estimated, and max_tokens counts only the new ones",
			"provider", p.cfg.Name, "model", req.Model, "err", err)
		pf.tokens, pf.estimated = p.cfg.Counter.Count(req.Model, text), true
		return &with, pf, nil
	}
	pf.prompt, pf.tokens = prompt, max(all-prompt, 0)
	// max_tokens bounds the whole answer, the part begun included.
	m := with.Sampling.MaxTokens
	if m <= 0 {
		m = p.cfg.MaxTokens
	}
	if m -= pf.tokens; m <= 0 {
		pf.complete = true
	}
	with.Sampling.MaxTokens = m
	return &with, pf, nil
}

// withoutAnswer splits a request whose last message is the assistant's
// answer begun into the request without it, and that message; ok is false
// for any other request.
func withoutAnswer(req *stream.Request) (without *stream.Request, last stream.Message, ok bool) {
	n := len(req.Messages)
	if n == 0 {
		return nil, last, false
	}
	last = req.Messages[n-1]
	if last.Role != stream.RoleAssistant || len(last.ToolCalls) > 0 {
		return nil, last, false
	}
	w := *req
	w.Messages = append([]stream.Message(nil), req.Messages[:n-1]...)
	if len(w.Messages) == 0 && w.Prompt != "" {
		// A completion's continuation: the gateway put the answer after
		// the prompt, which upstreamRequest only sends without messages.
		w.Messages = append(w.Messages, stream.Message{Role: stream.RoleUser, Content: w.Prompt})
	}
	return &w, last, true
}

// CountTokens implements gateway.PromptCounter with the API's
// count_tokens. An answer begun is input to the API but output in the
// usage Runnel reports (withPrefill moves it), so such a request is
// counted without it: the count is what the call would report.
func (p *Provider) CountTokens(ctx context.Context, req *stream.Request) (int, error) {
	if without, _, ok := withoutAnswer(req); ok {
		req = without
	}
	return p.countTokens(ctx, req)
}

// countBoth counts a and b at once (one round trip's wait, not two). The
// error is the first failure, not the cancellation it caused in the other.
func (p *Provider) countBoth(ctx context.Context, a, b *stream.Request) (na, nb int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	fail := func(e error) {
		once.Do(func() { err = e })
		cancel()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var e error
		if nb, e = p.countTokens(ctx, b); e != nil {
			fail(e)
		}
	}()
	if n, e := p.countTokens(ctx, a); e != nil {
		fail(e)
	} else {
		na = n
	}
	<-done
	return na, nb, err
}

// countTokens returns the API's input token count for req.
func (p *Provider) countTokens(ctx context.Context, req *stream.Request) (int, error) {
	m := p.upstreamRequest(req)
	body, err := json.Marshal(CountTokensRequest{Model: m.Model, Messages: m.Messages, System: m.System,
		Tools: m.Tools, ToolChoice: m.ToolChoice, Thinking: m.Thinking})
	if err != nil {
		return 0, stream.Errorf(stream.CodeInvalidRequest, "anthropic: %v", err)
	}
	resp, err := p.post(ctx, "/v1/messages/count_tokens", body, p.jsonHeader)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var c CountTokensResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c); err != nil || c.InputTokens == nil {
		return 0, stream.Errorf(stream.CodeUpstream, "anthropic: counting tokens: no input_tokens in the answer (%v)", err)
	}
	return *c.InputTokens, nil
}

// wrap is the stream of the prefilled request's answer; see dialect.Prefilled.
func (pf *prefill) wrap(s stream.Stream) stream.Stream {
	return &dialect.Prefilled{Stream: s, WS: pf.ws, Tokens: pf.tokens, Estimated: pf.estimated}
}
