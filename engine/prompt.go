package engine

import (
	"context"
	"slices"
	"strings"

	"github.com/runnel/runnel/engine/template"
	"github.com/runnel/runnel/stream"
	"github.com/runnel/runnel/stream/control"
)

// prompt is what the model reads, as token ids.
type prompt struct {
	ids []int
	// templated: the model's chat template rendered it; thinking: its
	// generation prompt opened a <think> block, which the model closes.
	templated, thinking bool
	// prefix is how many of ids are the assistant's answer begun (see
	// answerBegun), counted as completion tokens, not prompt tokens.
	prefix int
}

// promptTokens is what the model reads, as token ids: buildPrompt's text,
// with control tokens only where the template wrote them, and BOS and EOS
// as the vocabulary's add_bos_token and add_eos_token say.
func (r *runner) promptTokens(req *stream.Request) (prompt, error) {
	cp, err := buildPrompt(r.tmpl, r.specials, r.vocab.AddBOS(), req)
	if err != nil {
		return prompt{}, err
	}
	pr := prompt{templated: cp.templated, thinking: cp.thinking}
	pr.ids = r.encode(cp.text, cp.plain, cp.templated)
	if cp.answerAt >= 0 {
		// The answer is encoded with the prompt, so that its first token
		// merges as it would have when generated; its tokens are those the
		// prompt gained.
		base := len(r.encode(cp.text[:cp.answerAt], cp.plain[:len(cp.plain)-1], cp.templated))
		pr.prefix = max(len(pr.ids)-base, 0)
		return pr, nil
	}
	if r.vocab.AddEOS() {
		pr.ids = append(pr.ids, r.vocab.EOS())
	}
	return pr, nil
}

// chatPrompt is a request's prompt as text, before tokenizing.
type chatPrompt struct {
	text  string
	plain [][2]int // the request's own text: never read as control tokens
	// templated: the chat template rendered it; thinking: its generation
	// prompt opened a <think> block, which the model closes.
	templated, thinking bool
	// answerAt is where the assistant's answer begun starts (what comes
	// after it is the last of plain), or -1.
	answerAt int
}

// buildPrompt is the text a request becomes for a model whose chat
// template is tmpl (nil: none) and whose vocabulary adds BOS itself when
// addBOS: the chat rendered by the template, or else the prompt text. A
// chat that ends with the assistant's answer begun (answerBegun) is the
// conversation before it with the generation prompt, then the answer's
// text, which the model continues.
func buildPrompt(tmpl *template.Template, specials []string, addBOS bool, req *stream.Request) (chatPrompt, error) {
	cp := chatPrompt{answerAt: -1}
	answer, begun := answerBegun(req)
	if begun {
		c := *req
		c.Messages = req.Messages[:len(req.Messages)-1]
		req = &c
	}
	p, ok, err := render(tmpl, specials, addBOS, req)
	if err != nil {
		return cp, err
	}
	cp.text, cp.plain, cp.templated = promptText(req), p.Plain, ok
	if ok {
		cp.text = p.Text
		cp.thinking = strings.HasSuffix(strings.TrimRight(p.Text, " \n"), "<think>")
	}
	if !begun {
		return cp, nil
	}
	cp.answerAt = len(cp.text)
	if cp.thinking {
		// The thinking so far is not sent again: the block is closed
		// empty, and the answer follows it.
		cp.text += control.DefaultThinkTags.Close + "\n\n"
		cp.thinking = false
	}
	cp.plain = append(slices.Clone(cp.plain), [2]int{len(cp.text), len(cp.text) + len(answer)})
	cp.text += answer
	return cp, nil
}

// PromptText is the text the engine tokenizes for req on a model whose
// chat template is tmpl (nil: it has none) and whose vocabulary adds BOS
// itself when addBOS: what `runnel template` prints.
func PromptText(tmpl *template.Template, addBOS bool, req *stream.Request) (string, error) {
	cp, err := buildPrompt(tmpl, nil, addBOS, req)
	return cp.text, err
}

// encode tokenizes a prompt: a rendered one reading the control tokens its
// template wrote, outside the request's plain ranges; else as text.
func (r *runner) encode(text string, plain [][2]int, templated bool) []int {
	if templated {
		return r.vocab.EncodePrompt(text, plain, r.vocab.AddBOS())
	}
	return r.vocab.Encode(text, r.vocab.AddBOS())
}

// answerBegun returns the text of a chat's last message if it is the
// assistant's answer begun, to be continued: a prefill, or the text a
// replica that died had streamed (gateway.Continuer); for a raw prompt,
// the text after it. A lone assistant message of a chat, or one with tool
// calls, is a turn like any other.
func answerBegun(req *stream.Request) (string, bool) {
	n := len(req.Messages)
	if n == 0 || !req.RawPrompt && n < 2 {
		return "", false
	}
	m := req.Messages[n-1]
	if m.Role != stream.RoleAssistant || len(m.ToolCalls) > 0 {
		return "", false
	}
	return m.Content, true
}

// render applies chat template tmpl to a chat request; ok is false for a
// raw prompt or a model without a template.
func render(tmpl *template.Template, specials []string, addBOS bool, req *stream.Request) (p template.Prompt, ok bool, err error) {
	if tmpl == nil || req.RawPrompt || len(req.Messages) == 0 {
		return p, false, nil
	}
	in := template.Input{Messages: req.Messages, AddGenerationPrompt: true, StripBOS: addBOS}
	if len(req.Tools) > 0 && req.ToolChoice != "none" {
		in.Tools, tmpl = req.Tools, tmpl.ForTools()
	}
	if p, err = tmpl.Render(in, specials); err != nil {
		return p, false, stream.InvalidParam("messages", "%v", err)
	}
	return p, true, nil
}

// output turns what a templated model writes inline into events: its
// <think> block into thinking deltas (with the gateway's ThinkSplit), then
// its tool calls, in the format its template teaches, into tool-call
// events when the request offers tools.
func (r *runner) output(ctx context.Context, req *stream.Request, p prompt, s stream.Stream) (stream.Stream, error) {
	if !p.templated {
		return s, nil
	}
	if r.tmpl.Thinks() {
		if p.thinking {
			s = &thinkingFirst{Stream: s}
		}
		var err error
		one := stream.ProviderFunc(func(context.Context, *stream.Request) (stream.Stream, error) { return s, nil })
		if s, err = control.ThinkSplit(one, control.DefaultThinkTags).Stream(ctx, req); err != nil {
			return nil, err
		}
	}
	if len(req.Tools) > 0 && req.ToolChoice != "none" {
		s = r.tmpl.ForTools().ToolCalls(s)
	}
	return s, nil
}

// thinkingFirst reopens the <think> tag that the generation prompt wrote
// (DeepSeek R1's templates end with it), so that ThinkSplit sees the
// model's output begin inside the block.
type thinkingFirst struct {
	stream.Stream
	opened bool
}

func (t *thinkingFirst) Recv() (stream.Event, error) {
	ev, err := t.Stream.Recv()
	if err == nil && !t.opened && ev.Kind == stream.KindDelta {
		t.opened = true
		ev.Text = control.DefaultThinkTags.Open + ev.Text
	}
	return ev, err
}

// Finish forwards to the inner stream; see stream.Finisher.
func (t *thinkingFirst) Finish(r stream.FinishReason) bool { return stream.Finish(t.Stream, r) }

// promptText is what the model reads: the raw prompt of a completion call,
// or a chat's messages joined by newlines, since the engine's models are
// base models without a chat template.
func promptText(req *stream.Request) string {
	if req.RawPrompt || len(req.Messages) == 0 {
		return req.Prompt
	}
	return template.PlainText(req.Messages)
}

// answerUsage counts an answer begun (prompt.prefix tokens) in the
// completion rather than the prompt, as gateway.Continuer asks: the usage
// is the whole answer's.
type answerUsage struct {
	stream.Stream
	prefix int
}

func (a *answerUsage) Recv() (stream.Event, error) {
	ev, err := a.Stream.Recv()
	if err == nil && ev.Kind == stream.KindUsage && ev.Usage != nil {
		u := *ev.Usage
		u.PromptTokens -= a.prefix
		u.CompletionTokens += a.prefix
		ev.Usage = &u
	}
	return ev, err
}

// Finish forwards to the inner stream; see stream.Finisher.
func (a *answerUsage) Finish(r stream.FinishReason) bool { return stream.Finish(a.Stream, r) }

// answered is the stream of an answer begun that already has its
// max_tokens: nothing more, finished for length.
func answered(ctx context.Context, p prompt) stream.Stream {
	u := stream.Usage{PromptTokens: len(p.ids) - p.prefix, CompletionTokens: p.prefix}
	return stream.Go(ctx, 2, func(ctx context.Context, emit func(stream.Event) bool) error {
		if emit(stream.UsageEvent(u)) {
			emit(stream.Finished(stream.FinishLength))
		}
		return nil
	})
}
