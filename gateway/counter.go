package gateway

import (
	"unicode/utf8"

	"github.com/runnel/runnel/stream"
)

// Counter counts the tokens of text for a model, to estimate usage when a
// provider reports none.
type Counter interface {
	Count(model, text string) int
}

// LengthCounter is a Counter that, for some models, counts a request's
// prompt from its length alone: cheaply enough to count it when the call
// starts, so that the gateway need not keep a long request for the whole
// stream in case its usage must be estimated (see Options.Accountant).
// CountPrompt reports false for a model whose count needs the text
// itself (a tokenizer); when true, it is exactly what Count gives for
// the prompt the gateway estimates from: each message's content followed
// by a newline, then the request's Prompt.
type LengthCounter interface {
	Counter
	CountPrompt(model string, req *stream.Request) (int, bool)
}

// ApproxCounter is the default Counter. It is approximate: about four
// characters per token, the usual rule of thumb for English with BPE
// vocabularies, and at least one token for any non-empty text. Usage it
// produced is flagged Estimated.
type ApproxCounter struct{}

// Count returns ceil(runes/4).
func (ApproxCounter) Count(model, text string) int {
	return (utf8.RuneCountInString(text) + 3) / 4
}

// CountPrompt implements LengthCounter: Count of the joined prompt, from
// its parts (a newline after each content joins nothing across them).
func (ApproxCounter) CountPrompt(model string, req *stream.Request) (int, bool) {
	n := utf8.RuneCountInString(req.Prompt)
	for i := range req.Messages {
		n += utf8.RuneCountInString(req.Messages[i].Content) + 1
	}
	return (n + 3) / 4, true
}
