package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
