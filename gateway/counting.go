package gateway

import (
	"strings"

	"github.com/runnel/runnel/stream"
)

// TokenCounter is implemented by providers that know their models'
// tokenizers (the engine). When a call such a provider served ends without
// its usage (the client went away, the stream failed), the gateway counts
// with it instead of Options.Counter; the usage is still flagged Estimated,
// since output cut short or re-tokenized may differ from what was
// generated. Both methods must be safe for concurrent use and cheap enough
// to run at the end of a call; they report false for a model they cannot
// count (say, one not loaded), and the gateway falls back to its Counter.
type TokenCounter interface {
	// CountPrompt returns the tokens req's prompt takes for model, as the
	// provider feeds it (template, BOS and all).
	CountPrompt(model string, req *stream.Request) (int, bool)
	// CountText returns the tokens of text for model.
	CountText(model, text string) (int, bool)
}

func tokenCounter(p stream.Provider) TokenCounter {
	tc, _ := p.(TokenCounter)
	return tc
}

// estimator counts with the provider's TokenCounter where it can, else
// with the gateway's Counter.
type estimator struct {
	tc    TokenCounter
	c     Counter
	model string
}

func (e estimator) Count(model, text string) int {
	if text == "" {
		return 0
	}
	if e.tc != nil {
		if n, ok := e.tc.CountText(e.model, text); ok {
			return n
		}
	}
	return e.c.Count(e.model, text)
}

func (e estimator) prompt(req *stream.Request) int {
	if e.tc != nil {
		if n, ok := e.tc.CountPrompt(e.model, req); ok {
			return n
		}
	}
	if l, ok := e.c.(LengthCounter); ok {
		if n, ok := l.CountPrompt(e.model, req); ok {
			return n
		}
	}
	var prompt strings.Builder
	for _, msg := range req.Messages {
		prompt.WriteString(msg.Content)
		prompt.WriteByte('\n')
	}
	prompt.WriteString(req.Prompt)
	return e.c.Count(e.model, prompt.String())
}

// usage estimates a call's usage from its request and what it output.
func (e estimator) usage(req *stream.Request, out, thinking string, tcs []stream.ToolCall) stream.Usage {
	u := stream.Usage{Estimated: true}
	if req != nil {
		u.PromptTokens = e.prompt(req)
	}
	u.ReasoningTokens = e.Count(e.model, thinking)
	u.CompletionTokens = e.Count(e.model, out) + u.ReasoningTokens
	for _, tc := range tcs {
		u.CompletionTokens += e.Count(e.model, tc.Name+tc.Arguments)
	}
	return u
}
