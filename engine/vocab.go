package engine

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/model"
	"github.com/runnel/runnel/engine/models"
)

// Vocab is what the engine needs of a tokenizer.
type Vocab interface {
	// Encode tokenizes text, with BOS first when bos is set.
	Encode(text string, bos bool) ([]int, error)
	BOS() int
	EOS() int
	// NewDecoder returns a streaming detokenizer for the tokens that
	// follow prev, the prompt's last token (a piece after BOS loses its
	// leading space).
	NewDecoder(prev int) Decoder
}

// Decoder turns a sequence's tokens into text as they come, holding back
// the bytes of a character split across tokens until it is complete.
type Decoder interface {
	Next(token int) string
	// Flush returns what is held back at the end of the sequence.
	Flush() string
}

// open loads a model file and its tokenizer.
func open(m models.Model, tokenizerPath string) (*model.Model, Vocab, error) {
	switch m.Format {
	case models.FormatLlama2C:
		if tokenizerPath == "" {
			tokenizerPath = m.Tokenizer
		}
		if tokenizerPath == "" {
			return nil, nil, fmt.Errorf("no tokenizer beside %s (looked for tok<vocab size>.bin and tokenizer.bin with a matching vocabulary)", m.Path)
		}
		mdl, err := model.OpenLlama2C(m.Path)
		if err != nil {
			return nil, nil, err
		}
		v, err := openLlama2CVocab(tokenizerPath, mdl.VocabSize)
		if err != nil {
			mdl.Close()
			return nil, nil, err
		}
		return mdl, v, nil
	case models.FormatGGUF:
		mdl, f, err := model.OpenGGUF(m.Path)
		if err != nil {
			return nil, nil, err
		}
		v, err := ggufVocab(f, mdl.VocabSize)
		if err != nil {
			mdl.Close()
			return nil, nil, fmt.Errorf("%s: %w", m.Path, err)
		}
		return mdl, v, nil
	}
	return nil, nil, fmt.Errorf("model format %q is not supported", m.Format)
}

// ggufVocab reads a SentencePiece ("llama") vocabulary from GGUF metadata.
func ggufVocab(f *gguf.File, vocabSize int) (Vocab, error) {
	kind, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, err
	}
	if kind != "llama" {
		return nil, fmt.Errorf("tokenizer model %q is not supported (only llama)", kind)
	}
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil {
		return nil, err
	}
	scores, err := f.Float32s("tokenizer.ggml.scores")
	if err != nil {
		return nil, err
	}
	if len(tokens) != vocabSize || len(scores) != vocabSize {
		return nil, fmt.Errorf("tokenizer has %d tokens and %d scores, the model %d", len(tokens), len(scores), vocabSize)
	}
	bos, err := f.Uint32("tokenizer.ggml.bos_token_id")
	if err != nil {
		return nil, err
	}
	eos, err := f.Uint32("tokenizer.ggml.eos_token_id")
	if err != nil {
		return nil, err
	}
	if int(bos) >= vocabSize || int(eos) >= vocabSize {
		return nil, fmt.Errorf("bos %d or eos %d outside the vocabulary of %d", bos, eos, vocabSize)
	}
	pieces := make([]string, len(tokens))
	for i, t := range tokens {
		pieces[i] = strings.ReplaceAll(t, "\u2581", " ") // SentencePiece's visible space
	}
	return newLlamaVocab(pieces, scores, int(bos), int(eos)), nil
}

// utf8Hold returns how many trailing bytes of b are the start of a UTF-8
// character that is not complete yet.
func utf8Hold(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 { // a lead byte: is its character complete?
			if utf8.FullRune(b[len(b)-n:]) {
				return 0
			}
			return n
		}
	}
	return 0
}
