package template

import (
	"fmt"
	"strings"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/tokenizer"
	"github.com/runnel/runnel/stream"
)

// TemplateKey is the GGUF metadata key of a model's chat template;
// TemplateKey+".tool_use" holds the one for requests with tools, in files
// whose default template has no tools (Hermes 2 Pro, Command R).
const TemplateKey = "tokenizer.chat_template"

// FromGGUF compiles the chat templates of a GGUF file for its tokenizer, or
// returns nil if the file has none. A tool-use template is used for
// requests with tools (see ForTools), or as the default if it is the only
// one, as llama.cpp does.
func FromGGUF(f *gguf.File, tok tokenizer.Tokenizer) (*Template, error) {
	read := func(key string) (*Template, error) {
		if !f.Has(key) {
			return nil, nil
		}
		src, err := f.String(key)
		if err != nil {
			return nil, err
		}
		t, err := ForTokenizer(src, tok)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		return t, nil
	}
	def, err := read(TemplateKey)
	if err != nil {
		return nil, err
	}
	tools, err := read(TemplateKey + ".tool_use")
	if err != nil {
		return nil, err
	}
	if def == nil {
		return tools, nil
	}
	def.toolUse = tools
	return def, nil
}

// ForTools returns the template for a request with tools: the file's
// tool-use template if it has one, else t.
func (t *Template) ForTools() *Template {
	if t.toolUse != nil {
		return t.toolUse
	}
	return t
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
