// Package models manages the engine's models directory: it finds the
// model files in it (llama2.c checkpoints and GGUF files), resolves the
// names clients use to files and tokenizers, and downloads models into it
// (see Pull).
package models

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runnel/runnel/engine/llama2c"
)

// Default is the model served when a request names none.
const Default = "stories260K"

// Formats of model files.
const (
	FormatLlama2C = "llama2c"
	FormatGGUF    = "gguf"
)

// Model is a model file in the models directory.
type Model struct {
	Name     string // the file's base name without extension: "stories260K"
	Path     string
	Format   string // FormatLlama2C or FormatGGUF
	Size     int64  // bytes
	Modified time.Time
	// Params and ContextLength come from the file's header, 0 when unknown.
	Params        int64
	ContextLength int
	// Tokenizer is the llama2.c tokenizer file found beside a llama2.c
	// checkpoint ("" when there is none). GGUF files carry their own.
	Tokenizer string
}

// ErrNotFound is returned (wrapped) by Find for a name with no model file.
var ErrNotFound = errors.New("model not found")

// List returns the models in dir, sorted by name. Files that are neither
// GGUF nor llama2.c checkpoints (tokenizers, partial downloads) are
// skipped. A missing dir holds no models.
func List(dir string) ([]Model, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Model
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if m, ok := inspect(dir, e.Name()); ok {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Name strips the engine's provider prefix and a model file extension from
// a requested model name: "engine/stories260K.bin" → "stories260K".
func Name(requested string) string {
	n := strings.TrimPrefix(requested, "engine/")
	for _, ext := range []string{".bin", ".gguf"} {
		n = strings.TrimSuffix(n, ext)
	}
	return n
}

// Find resolves a requested model name ("stories260K", "engine/NAME",
// "NAME.gguf"; "" means Default) to a model in dir.
func Find(dir, requested string) (Model, error) {
	name := Name(requested)
	if name == "" {
		name = Default
	}
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return Model{}, fmt.Errorf("%w: %q is not a model file name", ErrNotFound, requested)
	}
	for _, ext := range []string{".gguf", ".bin"} {
		if m, ok := inspect(dir, name+ext); ok {
			return m, nil
		}
	}
	return Model{}, fmt.Errorf("%w: no %s.gguf or %s.bin in %s", ErrNotFound, name, name, dir)
}

// inspect reports whether dir/file is a model and describes it.
func inspect(dir, file string) (Model, bool) {
	path := filepath.Join(dir, file)
	ext := filepath.Ext(file)
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return Model{}, false
	}
	m := Model{Name: strings.TrimSuffix(file, ext), Path: path, Size: st.Size(), Modified: st.ModTime()}
	switch ext {
	case ".gguf":
		m.Format = FormatGGUF
		describeGGUF(&m)
		return m, true
	case ".bin":
		f, err := os.Open(path)
		if err != nil {
			return Model{}, false
		}
		var hdr [llama2c.HeaderSize]byte
		n, _ := f.ReadAt(hdr[:], 0)
		f.Close()
		// Tokenizer files share the .bin extension; a checkpoint is told
		// apart by a valid header that predicts the file's exact size.
		c, err := llama2c.ParseHeader(hdr[:n])
		if err != nil || c.FileSize() != st.Size() {
			return Model{}, false
		}
		m.Format, m.Params, m.ContextLength = FormatLlama2C, c.Params(), c.SeqLen
		m.Tokenizer = findTokenizer(dir, c.VocabSize)
		return m, true
	}
	return Model{}, false
}

// findTokenizer looks beside a llama2.c checkpoint for tok<vocab>.bin
// (stories260K's tok512.bin), then tokenizer.bin (llama 2's 32000 tokens),
// and takes the first that holds exactly vocab tokens.
func findTokenizer(dir string, vocab int) string {
	for _, name := range []string{fmt.Sprintf("tok%d.bin", vocab), "tokenizer.bin"} {
		p := filepath.Join(dir, name)
		if b, err := os.ReadFile(p); err == nil && tokenizerSize(b) == vocab {
			return p
		}
	}
	return ""
}

// tokenizerSize counts the entries of a llama2.c tokenizer file, or
// returns -1 if b is not one.
func tokenizerSize(b []byte) int {
	pieces, _, err := ParseTokenizerBin(b)
	if err != nil {
		return -1
	}
	return len(pieces)
}

// ParseTokenizerBin decodes a llama2.c tokenizer file: an int32
// max_token_length, then per token a float32 merge score, an int32 length
// and the piece's bytes (spaces as spaces, bytes as "<0xXX>").
func ParseTokenizerBin(b []byte) (pieces []string, scores []float32, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("not a llama2.c tokenizer: %d bytes", len(b))
	}
	for off := 4; off < len(b); {
		if len(b)-off < 8 {
			return nil, nil, fmt.Errorf("llama2.c tokenizer truncated at token %d", len(pieces))
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		l := int(int32(binary.LittleEndian.Uint32(b[off+4:])))
		off += 8
		if l < 0 || l > len(b)-off {
			return nil, nil, fmt.Errorf("llama2.c tokenizer: token %d has a bad length %d", len(pieces), l)
		}
		pieces = append(pieces, string(b[off:off+l]))
		scores = append(scores, score)
		off += l
	}
	return pieces, scores, nil
}

// DefaultDir is the models directory when none is given: $RUNNEL_MODELS,
// else runnel/models under the user's cache directory.
func DefaultDir() string {
	if d := os.Getenv("RUNNEL_MODELS"); d != "" {
		return d
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "runnel", "models")
	}
	return "models"
}
