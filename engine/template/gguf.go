package template

import (
	"fmt"
	"strings"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/tokenizer"
	"github.com/runnel/runnel/stream"
)

// TemplateKey is the GGUF metadata key of a model's chat template.
const TemplateKey = "tokenizer.chat_template"

// FromGGUF compiles the chat template of a GGUF file for its tokenizer, or
// returns nil if the file has none.
func FromGGUF(f *gguf.File, tok tokenizer.Tokenizer) (*Template, error) {
	if !f.Has(TemplateKey) {
		return nil, nil
	}
	src, err := f.String(TemplateKey)
	if err != nil {
		return nil, err
	}
	return ForTokenizer(src, tok)
}

// ForTokenizer compiles a chat template with the vocabulary's BOS and EOS
// texts as bos_token and eos_token.
func ForTokenizer(src string, tok tokenizer.Tokenizer) (*Template, error) {
	return Parse(src, tok.Token(tok.BOS()), tok.Token(tok.EOS()))
}

// Specials returns the texts a request must not be able to write as
// tokens: the vocabulary's control tokens.
func Specials(tok tokenizer.Tokenizer) []string {
	if c, ok := tok.(interface{ ControlTokens() []string }); ok {
		return c.ControlTokens()
	}
	return nil
}

// Open reads a GGUF file's tokenizer and chat template (nil if it has
// none) from its metadata.
func Open(path string) (*Template, tokenizer.Tokenizer, error) {
	f, err := gguf.OpenMetadata(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := FromGGUF(f, tok)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, tok, nil
}

// PlainText is the prompt of a chat for a model without a template: the
// messages' contents joined by newlines.
func PlainText(msgs []stream.Message) string {
	parts := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if m.Content != "" {
			parts = append(parts, m.Content)
		}
	}
	return strings.Join(parts, "\n")
}
