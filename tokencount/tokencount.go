// Package tokencount counts tokens the way OpenAI's models do (tiktoken's
// BPE ranks, embedded, so nothing is fetched at run time), for estimating
// usage when an OpenAI-compatible upstream reports none.
package tokencount

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/runnel/runnel/stream"

	"github.com/tiktoken-go/tokenizer"
)

// Fallback counts tokens of models that are not OpenAI's.
type Fallback interface {
	Count(model, text string) int
}

// Counter implements gateway.Counter: tiktoken for OpenAI-family model
// names (gpt-*, o1/o3/o4, chatgpt-*, text-embedding-*, with or without a
// provider prefix such as "openai/"), Fallback for the rest.
type Counter struct {
	Fallback Fallback
}

var (
	o200k, cl100k         tokenizer.Codec
	o200kOnce, cl100kOnce sync.Once
)

// The model-name prefixes (lowered) of each tiktoken encoding, tried in
// this order.
var (
	o200kPrefixes  = []string{"gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "o1", "o3", "o4", "chatgpt-"}
	cl100kPrefixes = []string{"gpt-4", "gpt-3.5", "gpt-35", "text-embedding-"}
)

// firstBytes holds every first byte of a name that may lower to one of
// the prefixes: every call asks Encoding (CountPrompt), and most names
// are answered by their first byte. Besides both ASCII cases, only two
// runes lower to an ASCII letter: U+0130 to "i" and the Kelvin sign
// U+212A to "k" (FuzzEncoding).
var firstBytes = func() (set [256]bool) {
	for _, list := range [][]string{o200kPrefixes, cl100kPrefixes} {
		for _, p := range list {
			set[p[0]], set[p[0]&^0x20] = true, true
			switch p[0] {
			case 'i':
				set["\u0130"[0]] = true
			case 'k':
				set["\u212a"[0]] = true
			}
		}
	}
	return set
}()

// Encoding names the tiktoken encoding of an OpenAI-family model name
// ("o200k_base", "cl100k_base"), or "" for other models.
func Encoding(model string) string {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	if model == "" || !firstBytes[model[0]] {
		return ""
	}
	model = strings.ToLower(model)
	has := func(prefixes []string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(model, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has(o200kPrefixes):
		return string(tokenizer.O200kBase)
	case has(cl100kPrefixes):
		return string(tokenizer.Cl100kBase)
	}
	return ""
}

// codec returns model's encoding, loading its ranks on first use, or nil.
func codec(model string) tokenizer.Codec {
	switch Encoding(model) {
	case string(tokenizer.O200kBase):
		o200kOnce.Do(func() { o200k, _ = tokenizer.Get(tokenizer.O200kBase) })
		return o200k
	case string(tokenizer.Cl100kBase):
		cl100kOnce.Do(func() { cl100k, _ = tokenizer.Get(tokenizer.Cl100kBase) })
		return cl100k
	}
	return nil
}

// Count returns the number of tokens of text for model.
func (c Counter) Count(model, text string) int {
	if text == "" {
		return 0
	}
	if enc := codec(model); enc != nil {
		if n, err := enc.Count(text); err == nil {
			return n
		}
	}
	if c.Fallback != nil {
		return c.Fallback.Count(model, text)
	}
	// About four characters per token, as for English with BPE vocabularies.
	return (utf8.RuneCountInString(text) + 3) / 4
}

// lengthCounter is gateway.LengthCounter (which this package cannot
// import): a Fallback that counts a prompt from its length.
type lengthCounter interface {
	CountPrompt(model string, req *stream.Request) (int, bool)
}

// CountPrompt implements gateway.LengthCounter: false for OpenAI-family
// models (tiktoken needs the text: about 1.3 ms for 8 KiB) and for a
// Fallback that cannot count by length; else Count of the prompt the
// gateway estimates from (each message's content and a newline, then
// req.Prompt), from its parts.
func (c Counter) CountPrompt(model string, req *stream.Request) (int, bool) {
	if Encoding(model) != "" {
		return 0, false
	}
	if c.Fallback != nil {
		if l, ok := c.Fallback.(lengthCounter); ok {
			return l.CountPrompt(model, req)
		}
		return 0, false
	}
	n := utf8.RuneCountInString(req.Prompt)
	for i := range req.Messages {
		n += utf8.RuneCountInString(req.Messages[i].Content) + 1
	}
	return (n + 3) / 4, true
}
