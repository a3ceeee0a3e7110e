package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/runnel/runnel/engine/gguf"
)

// ParseLlama2c reads llama2.c's tokenizer.bin: an int32 max_token_length,
// then for every token a float32 score, an int32 length and the bytes. The
// vocabulary size is not stored; it is the number of entries. BOS is 1 and
// EOS 2, as run.c assumes.
func ParseLlama2c(data []byte) (*SPM, error) {
	t, err := parseLlama2c(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: %w", err)
	}
	return t, nil
}

func parseLlama2c(data []byte) (*SPM, error) {
	if len(data) < 4 {
		return nil, errors.New("file too short for its header")
	}
	le := binary.LittleEndian
	maxLen := int32(le.Uint32(data))
	if maxLen <= 0 || maxLen > 1<<16 {
		return nil, fmt.Errorf("max_token_length %d is implausible (not a tokenizer.bin?)", maxLen)
	}
	t := &SPM{runc: true, spacePrefix: true}
	t.encodeFunc = t.encode
	off := 4
	for off < len(data) {
		if len(data)-off < 8 {
			return nil, fmt.Errorf("token %d: truncated at offset %d", len(t.tokens), off)
		}
		score := math.Float32frombits(le.Uint32(data[off:]))
		n := int32(le.Uint32(data[off+4:]))
		off += 8
		if n < 0 || int(n) > len(data)-off {
			return nil, fmt.Errorf("token %d: length %d at offset %d runs past the end of the %d-byte file", len(t.tokens), n, off-4, len(data))
		}
		if n > maxLen {
			return nil, fmt.Errorf("token %d: length %d exceeds max_token_length %d", len(t.tokens), n, maxLen)
		}
		t.tokens = append(t.tokens, string(data[off:off+int(n)]))
		t.scores = append(t.scores, score)
		off += int(n)
	}
	t.bos, t.eos, t.unk = 1, 2, 0
	t.addBOS = true
	if len(t.tokens) < 3 {
		return nil, fmt.Errorf("%d tokens: too few for <unk>, <s>, </s>", len(t.tokens))
	}
	t.index()
	t.stripSpace = true
	t.spaceID = -1
	if id, ok := t.ids[" "]; ok {
		t.spaceID = id
	}
	t.pieces = make([]string, len(t.tokens))
	for i, s := range t.tokens {
		if b, ok := parseByteToken(s); ok {
			s = string([]byte{b})
		}
		if i == t.bos || i == t.eos {
			s = "" // "\n<s>\n" and "\n</s>\n" mark sequence ends, not text
		}
		t.pieces[i] = s
	}
	for i := range t.byteID {
		t.byteID[i] = int32(i) + 3
		if int(t.byteID[i]) >= len(t.tokens) {
			t.byteID[i] = 0
		}
	}
	return t, t.check()
}

// GGUFMetadata returns the tokenizer.ggml.* entries that describe t in a
// GGUF file, as llama.cpp's converters write them: pieces spell spaces as
// "▁", and token types mark <unk>, <s>, </s> and the byte tokens. It is how
// `runnel convert` carries a llama2.c tokenizer into GGUF.
func (t *SPM) GGUFMetadata() []gguf.KV {
	tokens := make([]string, len(t.tokens))
	types := make([]int32, len(t.tokens))
	for i, s := range t.tokens {
		types[i] = t.tokenType(i)
		if t.runc {
			switch {
			case i == t.bos:
				s, types[i] = "<s>", typeControl
			case i == t.eos:
				s, types[i] = "</s>", typeControl
			case i == t.unk:
				types[i] = typeUnknown
			default:
				if _, ok := parseByteToken(s); ok {
					types[i] = typeByte
				}
				s = strings.ReplaceAll(s, " ", spmSpace)
			}
		}
		tokens[i] = s
	}
	kv := func(k string, v any) gguf.KV {
		val, err := gguf.ValueOf(v)
		if err != nil {
			panic(err) // only fixed Go types are passed here
		}
		return gguf.KV{Key: k, Value: val}
	}
	out := []gguf.KV{
		kv("tokenizer.ggml.model", "llama"),
		kv("tokenizer.ggml.pre", "default"),
		kv("tokenizer.ggml.tokens", tokens),
		kv("tokenizer.ggml.scores", append([]float32(nil), t.scores...)),
		kv("tokenizer.ggml.token_type", types),
	}
	for _, id := range []struct {
		key string
		id  int
	}{{"tokenizer.ggml.bos_token_id", t.bos}, {"tokenizer.ggml.eos_token_id", t.eos}, {"tokenizer.ggml.unknown_token_id", t.unk}} {
		if id.id >= 0 {
			out = append(out, kv(id.key, uint32(id.id)))
		}
	}
	return append(out, kv("tokenizer.ggml.add_space_prefix", t.spacePrefix))
}
