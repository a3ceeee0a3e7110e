package engine

import (
	"fmt"
	"github.com/runnel/runnel/engine/models"
	"math"
	"os"
	"strconv"
	"strings"
)

// llama2cVocab is llama2.c's tokenizer.bin: SentencePiece-style BPE by
// merge score, with byte fallback tokens <0x00>..<0xFF> at ids 3..258.
type llama2cVocab struct {
	pieces []string
	scores []float32
	ids    map[string]int
	bytes  [256]int // byte → its fallback token, -1 if none
	bos    int
	eos    int
}

func openLlama2CVocab(path string, vocabSize int) (*llama2cVocab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pieces, scores, err := models.ParseTokenizerBin(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(pieces) != vocabSize {
		return nil, fmt.Errorf("%s: holds %d tokens, the model has %d", path, len(pieces), vocabSize)
	}
	return newLlamaVocab(pieces, scores, 1, 2), nil
}

func newLlamaVocab(pieces []string, scores []float32, bos, eos int) *llama2cVocab {
	v := &llama2cVocab{pieces: pieces, scores: scores, ids: make(map[string]int, len(pieces)), bos: bos, eos: eos}
	for i, p := range pieces {
		if _, dup := v.ids[p]; !dup {
			v.ids[p] = i
		}
	}
	for i := range v.bytes {
		v.bytes[i] = -1
		if id, ok := v.ids[fmt.Sprintf("<0x%02X>", i)]; ok {
			v.bytes[i] = id
		}
	}
	return v
}

func (v *llama2cVocab) BOS() int { return v.bos }
func (v *llama2cVocab) EOS() int { return v.eos }

// Encode works as run.c's encode: a dummy-prefix space, one token per
// character (or its bytes), then the best-scoring merges until none apply.
func (v *llama2cVocab) Encode(text string, bos bool) ([]int, error) {
	var toks []int
	if bos {
		toks = append(toks, v.BOS())
	}
	if text == "" {
		return toks, nil
	}
	start := len(toks)
	if id, ok := v.ids[" "]; ok {
		toks = append(toks, id)
	}
	for i, r := range text {
		ch := text[i : i+len(string(r))]
		if id, ok := v.ids[ch]; ok {
			toks = append(toks, id)
			continue
		}
		for j := 0; j < len(ch); j++ {
			id := v.bytes[ch[j]]
			if id < 0 {
				return nil, fmt.Errorf("byte 0x%02x has no token", ch[j])
			}
			toks = append(toks, id)
		}
	}
	for {
		best, bestID, bestScore := -1, -1, float32(math.Inf(-1))
		for i := start; i+1 < len(toks); i++ {
			id, ok := v.ids[v.pieces[toks[i]]+v.pieces[toks[i+1]]]
			if ok && v.scores[id] > bestScore {
				best, bestID, bestScore = i, id, v.scores[id]
			}
		}
		if best < 0 {
			return toks, nil
		}
		toks[best] = bestID
		toks = append(toks[:best+1], toks[best+2:]...)
	}
}

// piece returns a token's bytes: byte tokens decode to their byte.
func (v *llama2cVocab) piece(tok int) string {
	if tok < 0 || tok >= len(v.pieces) {
		return ""
	}
	p := v.pieces[tok]
	if len(p) == 6 && strings.HasPrefix(p, "<0x") && p[5] == '>' {
		if b, err := strconv.ParseUint(p[3:5], 16, 8); err == nil {
			return string([]byte{byte(b)})
		}
	}
	return p
}

func (v *llama2cVocab) NewDecoder(prev int) Decoder { return &llama2cDecoder{v: v, prev: prev} }

type llama2cDecoder struct {
	v       *llama2cVocab
	prev    int
	pending []byte
}

func (d *llama2cDecoder) Next(tok int) string {
	p := d.v.piece(tok)
	if d.prev == d.v.BOS() {
		p = strings.TrimPrefix(p, " ") // as run.c: no leading space after BOS
	}
	d.prev = tok
	d.pending = append(d.pending, p...)
	cut := len(d.pending) - utf8Hold(d.pending)
	out := string(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return strings.ToValidUTF8(out, "\uFFFD")
}

func (d *llama2cDecoder) Flush() string {
	out := strings.ToValidUTF8(string(d.pending), "\uFFFD")
	d.pending = d.pending[:0]
	return out
}
