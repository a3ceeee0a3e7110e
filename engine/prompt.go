package engine

import (
	"context"
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
}

// promptTokens is what the model reads, as token ids: a chat rendered by
// the model's chat template (control tokens only where the template wrote
// them), or else the prompt text; with BOS and EOS as the vocabulary's
// add_bos_token and add_eos_token say.
func (r *runner) promptTokens(req *stream.Request) (prompt, error) {
	var pr prompt
	if p, ok, err := r.render(req); err != nil {
		return pr, err
	} else if ok {
		pr.ids = r.vocab.EncodePrompt(p.Text, p.Plain, r.vocab.AddBOS())
		pr.templated = true
		pr.thinking = strings.HasSuffix(strings.TrimRight(p.Text, " \n"), "<think>")
	} else {
		pr.ids = r.vocab.Encode(promptText(req), r.vocab.AddBOS())
	}
	if r.vocab.AddEOS() {
		pr.ids = append(pr.ids, r.vocab.EOS())
	}
	return pr, nil
}

// render applies the model's chat template to a chat request; ok is false
// for a raw prompt or a model without a template.
func (r *runner) render(req *stream.Request) (p template.Prompt, ok bool, err error) {
	if r.tmpl == nil || req.RawPrompt || len(req.Messages) == 0 {
		return p, false, nil
	}
	in := template.Input{Messages: req.Messages, AddGenerationPrompt: true, StripBOS: r.vocab.AddBOS()}
	tmpl := r.tmpl
	if len(req.Tools) > 0 && req.ToolChoice != "none" {
		in.Tools, tmpl = req.Tools, tmpl.ForTools()
	}
	if p, err = tmpl.Render(in, r.specials); err != nil {
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
