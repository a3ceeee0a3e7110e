package dialect

import "github.com/runnel/runnel/stream"

// Prefilled is the stream of an answer begun that an upstream continues
// (a gateway.Continuer sent the text so far as the assistant's last
// message). WS is the white space trimmed from the end of the prefix sent
// (an API may refuse it, a template or tokenizer may not keep it): the
// model writes it anew, so it is dropped from the start of the text, as
// far as the text repeats it. Tokens is the prefix's share of the input
// tokens the upstream reports: the usage counts them among the completion
// tokens instead, as gateway.Continuer asks, flagged Estimated if Tokens
// is an estimate.
type Prefilled struct {
	stream.Stream
	WS        string
	Tokens    int
	Estimated bool
}

func (s *Prefilled) Recv() (stream.Event, error) {
	for {
		ev, err := s.Stream.Recv()
		if err != nil {
			return ev, err
		}
		switch {
		case ev.Kind == stream.KindDelta && ev.Channel == stream.Output && s.WS != "":
			i := 0
			for i < len(ev.Text) && i < len(s.WS) && ev.Text[i] == s.WS[i] {
				i++
			}
			if i == len(ev.Text) {
				s.WS = s.WS[i:]
				continue // all of it was white space the client has
			}
			ev.Text, s.WS = ev.Text[i:], ""
		case ev.Kind == stream.KindUsage && ev.Usage != nil && s.Tokens > 0:
			u := *ev.Usage
			k := min(s.Tokens, u.PromptTokens)
			u.PromptTokens -= k
			u.CompletionTokens += k
			u.Estimated = u.Estimated || s.Estimated
			ev.Usage = &u
		}
		return ev, nil
	}
}

// Finish forwards to the inner stream; see stream.Finisher.
func (s *Prefilled) Finish(r stream.FinishReason) bool { return stream.Finish(s.Stream, r) }

// PrefixAnswered is the stream of an answer begun whose prefix already
// holds max_tokens: no generation, the usage of the prompt and the prefix
// (the completion), finished for length.
func PrefixAnswered(prompt, prefix int) stream.Stream {
	return stream.Slice(stream.UsageEvent(stream.Usage{PromptTokens: prompt, CompletionTokens: prefix}), stream.Finished(stream.FinishLength))
}
