package gateway

import "unicode/utf8"

// Counter counts the tokens of text for a model, to estimate usage when a
// provider reports none.
type Counter interface {
	Count(model, text string) int
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
