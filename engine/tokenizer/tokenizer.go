// Package tokenizer turns text into token ids and back for the built-in
// engine: llama2.c's tokenizer.bin, and the GGUF vocabularies of
// tokenizer.ggml.model "llama" (SentencePiece BPE) and "gpt2" (byte-level
// BPE with the pre-tokenizers llama.cpp knows, see pretokenizers), encoding
// as llama2.c's run.c and llama.cpp do.
package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Tokenizer encodes text to token ids and decodes ids to text. All methods
// are safe for concurrent use.
type Tokenizer interface {
	// Encode returns the ids of text, preceded by BOS if bos is set.
	// Control tokens written in the text (e.g. "<s>") are encoded as plain
	// text; user-defined tokens match whole, as in llama.cpp.
	Encode(text string, bos bool) []int
	// AppendEncode is Encode appending to dst, for callers reusing a buffer.
	AppendEncode(dst []int, text string, bos bool) []int
	// Decode returns the text of ids (see Piece); bytes of an incomplete or
	// invalid UTF-8 sequence are kept as they are.
	Decode(ids []int) string
	// Piece returns the bytes token id stands for when it follows token
	// prev (-1 at the start of a text). A piece can be part of a UTF-8
	// sequence (byte-fallback tokens); control tokens have none. As in
	// run.c, a SentencePiece piece loses its leading space after BOS or at
	// the start of a text.
	Piece(prev, id int) string
	// Token returns the vocabulary entry of id as stored in the file.
	Token(id int) string
	// BOS and EOS return the begin- and end-of-sequence ids (-1 if none).
	BOS() int
	EOS() int
	// AddBOS and AddEOS report whether a prompt starts with BOS and ends
	// with EOS (GGUF's tokenizer.ggml.add_bos_token / add_eos_token, with
	// llama.cpp's defaults).
	AddBOS() bool
	AddEOS() bool
	// IsEOG reports whether id ends a generation: EOS, and the end-of-turn
	// tokens the vocabulary declares or that llama.cpp recognises by text.
	IsEOG(id int) bool
	// EncodePrompt encodes a rendered chat prompt: control tokens written
	// in it become those tokens, except inside the byte ranges of plain,
	// which came from the request and are encoded as text, so that a
	// message cannot forge a turn boundary.
	EncodePrompt(text string, plain [][2]int, bos bool) []int
	// VocabSize returns the number of tokens.
	VocabSize() int
}

// SpecialEncoder is implemented by tokenizers that can also match control
// tokens written in the text (llama.cpp's parse_special), e.g. "<s>" or a
// chat template's markers.
type SpecialEncoder interface {
	EncodeSpecial(text string, bos bool) []int
}

// Token types of GGUF's tokenizer.ggml.token_type.
const (
	typeNormal      = 1
	typeUnknown     = 2
	typeControl     = 3
	typeUserDefined = 4
	typeUnused      = 5
	typeByte        = 6
)

// vocab is what every tokenizer here shares: tokens, their decoded pieces,
// and a text → id index.
type vocab struct {
	tokens []string  // as stored
	scores []float32 // SentencePiece scores; nil for BPE
	types  []int32   // GGUF token types; all normal if the file has none
	pieces []string  // decoded bytes of each token
	ids    map[string]int32
	bos    int
	eos    int
	unk    int
	addBOS bool
	addEOS bool
	eog    map[int32]bool
	// stripSpace: pieces lose one leading space at the start of a text or
	// after BOS (SentencePiece's dummy prefix).
	stripSpace bool
	// specials are the tokens matched as whole strings in the input:
	// user-defined always, control and unknown only with parse_special.
	// Longest first, as llama.cpp tries them.
	specials []int32
	// rstrip marks the special tokens that swallow the white space after
	// them (llama.cpp's RSTRIP attribute: Phi-3's markers).
	rstrip map[int32]bool

	// encodeFunc is the tokenizer's encoder, behind the Encode methods.
	encodeFunc func(dst []int, text string, bos bool, sp specialMode) []int
	pool       *sync.Pool // of *session, shared by copies of the vocab
}

// specialMode says which special tokens partition matches: user-defined
// ones always; control and unknown ones if parse is set, outside the byte
// ranges of plain.
type specialMode struct {
	parse bool
	plain [][2]int
}

// Encode returns the ids of text.
func (v *vocab) Encode(text string, bos bool) []int {
	return v.encodeFunc(nil, text, bos, specialMode{})
}

// AppendEncode is Encode appending to dst.
func (v *vocab) AppendEncode(dst []int, text string, bos bool) []int {
	return v.encodeFunc(dst, text, bos, specialMode{})
}

// EncodeSpecial is Encode matching control tokens written in text.
func (v *vocab) EncodeSpecial(text string, bos bool) []int {
	return v.encodeFunc(nil, text, bos, specialMode{parse: true})
}

func (v *vocab) EncodePrompt(text string, plain [][2]int, bos bool) []int {
	return v.encodeFunc(nil, text, bos, specialMode{parse: true, plain: plain})
}

// ShowControl makes the control tokens with the given texts decode as
// their text, as llama.cpp's preserved tokens do: a chat model marks its
// tool calls with control tokens ([TOOL_CALLS], <|python_tag|>), which
// the tool-call parser must see. Texts that are not control tokens of the
// vocabulary are ignored. Call it before the tokenizer is shared.
func (v *vocab) ShowControl(texts ...string) {
	for _, s := range texts {
		if id, ok := v.ids[s]; ok && v.tokenType(int(id)) == typeControl {
			v.pieces[id] = s
		}
	}
}

// ControlTokens returns the texts of the tokens that only a chat template
// may write: control and unknown tokens, which EncodePrompt matches.
func (v *vocab) ControlTokens() []string {
	var out []string
	for _, id := range v.specials {
		if v.tokenType(int(id)) != typeUserDefined {
			out = append(out, v.tokens[id])
		}
	}
	return out
}

func (v *vocab) AddBOS() bool { return v.addBOS && v.bos >= 0 }
func (v *vocab) AddEOS() bool { return v.addEOS && v.eos >= 0 }

func (v *vocab) IsEOG(id int) bool {
	if v.eog == nil {
		return id >= 0 && id == v.eos
	}
	return v.eog[int32(id)]
}

func (v *vocab) session() *session { return v.pool.Get().(*session) }

func (v *vocab) index() {
	v.pool = &sync.Pool{New: func() any { return new(session) }}
	v.ids = make(map[string]int32, len(v.tokens))
	for i := len(v.tokens) - 1; i >= 0; i-- { // lowest id wins on duplicates
		v.ids[v.tokens[i]] = int32(i)
	}
}

// lookup returns the id of the token spelled b, or -1.
func (v *vocab) lookup(b []byte) int32 {
	if id, ok := v.ids[string(b)]; ok {
		return id
	}
	return -1
}

func (v *vocab) Token(id int) string {
	if id < 0 || id >= len(v.tokens) {
		return ""
	}
	return v.tokens[id]
}

func (v *vocab) BOS() int       { return v.bos }
func (v *vocab) EOS() int       { return v.eos }
func (v *vocab) VocabSize() int { return len(v.tokens) }

func (v *vocab) Piece(prev, id int) string {
	if id < 0 || id >= len(v.pieces) {
		return ""
	}
	p := v.pieces[id]
	if v.stripSpace && (prev < 0 || prev == v.bos) && len(p) > 0 && p[0] == ' ' {
		return p[1:]
	}
	return p
}

func (v *vocab) Decode(ids []int) string {
	var b strings.Builder
	prev := -1
	for _, id := range ids {
		b.WriteString(v.Piece(prev, id))
		prev = id
	}
	return b.String()
}

func (v *vocab) tokenType(id int) int32 {
	if v.types == nil || id >= len(v.types) {
		return typeNormal
	}
	return v.types[id]
}

// parseByteToken reads "<0xXX>", the text of a byte-fallback token.
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	n, err := strconv.ParseUint(s[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(n), true
}

// segment is a piece of input text: raw text to tokenize, or a special
// token matched whole.
type segment struct {
	text string
	id   int32 // -1 for raw text
	off  int   // where text starts in the input
}

// partition splits text at occurrences of the special tokens, trying the
// longest tokens first, as llama.cpp's tokenizer_st_partition does.
func (v *vocab) partition(text string, sp specialMode) []segment {
	segs := []segment{{text, -1, 0}}
	for _, id := range v.specials {
		t := v.tokens[id]
		userDefined := v.tokenType(int(id)) == typeUserDefined
		if !sp.parse && !userDefined || t == "" {
			continue
		}
		found := false
		for _, s := range segs {
			if s.id < 0 && strings.Contains(s.text, t) {
				found = true
				break
			}
		}
		if !found { // most tokens: no new segment list to build
			continue
		}
		var out []segment
		for _, s := range segs {
			if s.id >= 0 || !strings.Contains(s.text, t) {
				out = append(out, s)
				continue
			}
			rest, off, from := s.text, s.off, 0
			for {
				i := strings.Index(rest[from:], t)
				if i < 0 {
					break
				}
				i += from
				if !userDefined && overlaps(sp.plain, off+i, off+i+len(t)) {
					from = i + 1 // request text: not a control token here
					continue
				}
				if i > 0 {
					out = append(out, segment{rest[:i], -1, off})
				}
				out = append(out, segment{t, id, off + i})
				rest, off, from = rest[i+len(t):], off+i+len(t), 0
				if v.rstrip[id] {
					n := len(rest) - len(strings.TrimLeft(rest, " \t\n\v\f\r"))
					rest, off = rest[n:], off+n
				}
			}
			if rest != "" {
				out = append(out, segment{rest, -1, off})
			}
		}
		segs = out
	}
	return segs
}

// overlaps reports whether [start, end) meets any of the ranges.
func overlaps(ranges [][2]int, start, end int) bool {
	for _, r := range ranges {
		if start < r[1] && r[0] < end {
			return true
		}
	}
	return false
}

// hasSpecials reports whether partition can split anything.
func (v *vocab) hasSpecials(sp specialMode) bool {
	for _, id := range v.specials {
		if sp.parse || v.tokenType(int(id)) == typeUserDefined {
			return true
		}
	}
	return false
}

func (v *vocab) check() error {
	if len(v.tokens) == 0 {
		return fmt.Errorf("tokenizer: empty vocabulary")
	}
	if len(v.tokens) > 1<<24 {
		return fmt.Errorf("tokenizer: vocabulary of %d tokens is implausibly large", len(v.tokens))
	}
	for _, id := range []int{v.bos, v.eos, v.unk} {
		if id >= len(v.tokens) {
			return fmt.Errorf("tokenizer: special token id %d is outside the %d-token vocabulary", id, len(v.tokens))
		}
	}
	return nil
}
