package ollama

// Continuing an answer begun (gateway.Continuer): a chat whose last
// message is the assistant's, as a client's prefill or as the text so far
// of a stream whose replica died.
//
// What Ollama does with it, read in github.com/ollama/ollama at fb30760
// (v0.33.0-rc2, August 2026):
//
//   - The chat is rendered into one prompt (server/prompt.go chatPrompt →
//     renderPrompt). A template without .Messages is run per turn, and for
//     the last one it is cut right after {{ .Response }} (template/template.go
//     Execute, lines 326-343; since v0.2.2, commit 269ed6e6a): a final
//     assistant message is left open, so the model continues it. A template
//     over .Messages (line 272) renders what it says: the templates of
//     Ollama's library test $last and leave a final assistant message
//     without its end of turn, but some do not (template/llama3-instruct.gotmpl,
//     which Ollama gives imported llama3 GGUFs, ends every message and opens
//     a new assistant turn: the model would start a second answer). Built-in
//     renderers (model/renderers, e.g. qwen3coder.go:144) leave it open, and
//     their parsers are told of the prefill (server/routes.go:2685).
//     Consecutive messages of one role are joined with "\n\n" (template.go:367):
//     the answer begun must be one message.
//   - So whether a model continues depends on its template, and the API
//     documents none of it. It can be asked: a chat with _debug_render_only
//     (api/types.go:121, since v0.11.5) is rendered, not run, and answered
//     with the prompt (_debug_info.rendered_template; routes.go:2708, and
//     routes.go:2972 for models that llama-server renders itself).
//     CanContinue renders a probe chat ending with an assistant text and
//     answers true only if the prompt ends with that text exactly. An older
//     Ollama ignores the flag and runs the chat instead (one token:
//     num_predict 1), without _debug_info: false.
//   - The answer streamed holds only the new text (routes.go:2790: the
//     runner's content), not the prefix.
//   - prompt_eval_count is the whole prompt, cached tokens included
//     (llm/llama_server.go:1511, cache_n + prompt_n; earlier runners
//     len(inputs)), so the prefix is in it; eval_count and num_predict
//     are the new tokens only.
//   - A thinking model gets think on when the request does not say
//     (routes.go:2619); an answer begun is past its thinking, so it is sent
//     think false.
//   - /api/generate with raw true sends the prompt as it is, no template
//     (routes.go:500): a completion continues whatever the model.
//
// Hence a prefilled request (withPrefill): its prefix is trimmed of trailing
// white space (a template or tokenizer may not keep it; the model writes it
// anew, and it is dropped from the start of the continuation, as for
// Anthropic); Ollama counts the prompt without and with the prefix (two
// requests of one token, not streamed, whose prompt the runner's cache
// keeps for the continuation), and the difference is the prefix's tokens,
// exactly as Ollama counts them: they move from the prompt to the
// completion, and num_predict is max_tokens less them, so max_tokens bounds
// the whole answer. (Exactly the prefix's where the template opens an
// answer as it leaves one open, as the library's do; a template that opens
// one otherwise, say with an empty think block, puts the difference among
// the completion tokens too.) A JSON format cannot be continued: Ollama's
// grammar constrains the answer from its start.

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

var _ gateway.Continuer = (*Provider)(nil)

const (
	// probeText is the answer begun of the probe chat; a template that
	// continues it renders it last.
	probeText = "Runnel checks whether this answer is continued"
	// probeFor is how long a probe's answer is kept: a model may be
	// created again with another template.
	probeFor = time.Minute
	// probeTimeout bounds a probe, which loads the model.
	probeTimeout = 30 * time.Second
)

// probe is one model's answer to the probe chat, shared by the callers
// that wait for it.
type probe struct {
	done chan struct{}
	ok   bool
	at   time.Time
}

// CanContinue implements gateway.Continuer: whether model's template
// leaves a final assistant message open (see the file comment). The
// answer is asked of Ollama once a minute at most.
func (p *Provider) CanContinue(model string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	return p.continues(ctx, model)
}

// continues is CanContinue with ctx: one probe at a time per model, its
// answer kept for probeFor unless it failed on the way (transport, 5xx).
func (p *Provider) continues(ctx context.Context, model string) bool {
	p.mu.Lock()
	pr := p.probes[model]
	if pr != nil {
		select {
		case <-pr.done:
			if time.Since(pr.at) > probeFor {
				pr = nil
			}
		default:
		}
	}
	if pr == nil {
		pr = &probe{done: make(chan struct{})}
		if p.probes == nil {
			p.probes = map[string]*probe{}
		}
		p.probes[model] = pr
		p.mu.Unlock()
		ok, keep := p.probe(ctx, model)
		p.mu.Lock()
		pr.ok, pr.at = ok, time.Now()
		if !keep {
			delete(p.probes, model)
		}
		close(pr.done)
		p.mu.Unlock()
		return ok
	}
	p.mu.Unlock()
	select {
	case <-pr.done:
		return pr.ok
	case <-ctx.Done():
		return false
	}
}

// probeRequest is a chat to render, not run (Ollama's DebugRenderOnly).
type probeRequest struct {
	ChatRequest
	DebugRenderOnly bool `json:"_debug_render_only"`
}

// probeResponse is the answer to a probeRequest.
type probeResponse struct {
	DebugInfo *struct {
		RenderedTemplate string `json:"rendered_template"`
	} `json:"_debug_info"`
}

// probe asks Ollama to render a chat ending with an assistant text: ok if
// the prompt ends with it; keep unless the answer may differ on a retry.
func (p *Provider) probe(ctx context.Context, model string) (ok, keep bool) {
	f, one := false, 1
	body, err := json.Marshal(probeRequest{ChatRequest: ChatRequest{
		Model: model, Stream: &f, Think: &Think{}, Options: &ModelOptions{NumPredict: &one},
		Messages: []Message{{Role: "user", Content: "Say something."}, {Role: "assistant", Content: probeText}},
	}, DebugRenderOnly: true})
	if err != nil {
		return false, true
	}
	resp, err := p.post(ctx, ctx, p.whole.chat, &body)
	if err != nil {
		se := stream.AsError(err)
		return false, se.UpstreamStatus >= 400 && se.UpstreamStatus < 500
	}
	defer resp.Body.Close()
	var pr probeResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&pr); err != nil {
		return false, false
	}
	return pr.DebugInfo != nil && strings.HasSuffix(pr.DebugInfo.RenderedTemplate, probeText), true
}

// prefill is an answer begun as sent to Ollama.
type prefill struct {
	ws       string // trailing white space trimmed from the prefix
	tokens   int    // the prefix's tokens, as Ollama counts them
	prompt   int    // the prompt's tokens without the prefix
	complete bool   // the prefix already has max_tokens: nothing to ask
}

// withPrefill returns req ready to send when its last message is the
// assistant's answer begun, with what its stream must undo; req itself
// and no prefill otherwise, or when the model's template would not
// continue a chat (then Ollama gets it as the client sent it). A
// completion's continuation (the gateway put the answer after the prompt)
// is the prompt and the answer, raw.
func (p *Provider) withPrefill(ctx context.Context, req *stream.Request) (*stream.Request, *prefill, error) {
	n := len(req.Messages)
	if n == 0 {
		return req, nil, nil
	}
	last := req.Messages[n-1]
	if last.Role != stream.RoleAssistant || len(last.ToolCalls) > 0 {
		return req, nil, nil
	}
	raw := n == 1 && req.Prompt != ""
	if !raw && !p.continues(ctx, req.Model) {
		return req, nil, nil
	}
	if req.ResponseFormat.IsJSON() {
		return nil, nil, stream.InvalidParam("response_format", "ollama: an answer begun cannot be continued under a JSON format: Ollama's grammar constrains the answer from its start")
	}
	text := strings.TrimRightFunc(last.Content, unicode.IsSpace)
	pf := &prefill{ws: last.Content[len(text):]}
	without := *req // the request without the prefix
	without.Thinking = false
	without.Messages = append([]stream.Message(nil), req.Messages[:n-1]...)
	if raw {
		without.Messages = nil
	}
	if text == "" {
		return &without, pf, nil
	}
	with := without
	if raw {
		with.Prompt += text
	} else {
		last.Content = text
		with.Messages = append(with.Messages, last)
	}
	var err error
	if pf.prompt, err = p.count(ctx, &without); err != nil {
		return nil, nil, err
	}
	all, err := p.count(ctx, &with)
	if err != nil {
		return nil, nil, err
	}
	pf.tokens = max(all-pf.prompt, 0)
	if m := with.Sampling.MaxTokens; m > 0 {
		// max_tokens bounds the whole answer, the part begun included.
		if m -= pf.tokens; m <= 0 {
			pf.complete = true
		}
		with.Sampling.MaxTokens = m
	}
	return &with, pf, nil
}

// count returns Ollama's prompt_eval_count for req (one token generated,
// not streamed).
func (p *Provider) count(ctx context.Context, req *stream.Request) (int, error) {
	path, body, err := upstreamBody(req, sendAs{prefill: true, count: true})
	if err != nil {
		return 0, err
	}
	resp, err := p.post(ctx, ctx, p.whole.at(path), body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var c Chunk
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&c); err != nil {
		return 0, stream.Errorf(stream.CodeUpstream, "ollama: counting the prompt: bad answer: %v", err)
	}
	if c.Error != "" {
		return 0, stream.Errorf(stream.CodeUpstream, "ollama: counting the prompt: %s", c.Error)
	}
	return c.PromptEvalCount, nil
}
