package tokenizer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/runnel/runnel/engine/gguf"
)

// FromGGUF builds the tokenizer described by a GGUF file's tokenizer.ggml.*
// metadata. It copies what it needs, so f may be closed afterwards.
func FromGGUF(f *gguf.File) (Tokenizer, error) {
	model, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	switch model {
	case "llama", "gpt2":
	case "bert", "t5", "rwkv", "plamo2", "no_vocab":
		return nil, fmt.Errorf("tokenizer: tokenizer.ggml.model %q is not supported (supported: llama, gpt2)", model)
	default:
		return nil, fmt.Errorf("tokenizer: unknown tokenizer.ggml.model %q (supported: llama, gpt2)", model)
	}
	v, err := ggufVocab(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s vocabulary: %w", model, err)
	}
	var t Tokenizer
	if model == "llama" {
		v.addBOS = true
		t, err = newSPM(f, v)
	} else {
		t, err = newBPE(f, v)
	}
	if err != nil {
		return nil, err
	}
	if err := readFlags(f, t); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

// readFlags applies tokenizer.ggml.add_bos_token and add_eos_token over
// the defaults the tokenizer chose.
func readFlags(f *gguf.File, t Tokenizer) error {
	var v *vocab
	switch t := t.(type) {
	case *SPM:
		v = &t.vocab
	case *BPE:
		v = &t.vocab
	}
	for _, flag := range []struct {
		key string
		dst *bool
	}{{"tokenizer.ggml.add_bos_token", &v.addBOS}, {"tokenizer.ggml.add_eos_token", &v.addEOS}} {
		if !f.Has(flag.key) {
			continue
		}
		b, err := f.Bool(flag.key)
		if err != nil {
			return err
		}
		*flag.dst = b
	}
	return nil
}

// eogTexts are the tokens that end a generation whatever the metadata says,
// recognised by their text as llama.cpp does; turnTexts and fimTexts are
// recognised only when no metadata names the end-of-turn or FIM token.
var (
	eogTexts  = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"}
	turnTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"}
	fimTexts  = map[string][]string{
		"tokenizer.ggml.fim_pad_token_id": {"<|fim_pad|>", "<fim-pad>", "<PAD>"},
		"tokenizer.ggml.fim_rep_token_id": {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"},
		"tokenizer.ggml.fim_sep_token_id": {"<|file_sep|>"},
	}
)

// endOfGeneration fills v.eog: EOS, the end-of-turn and end-of-message
// tokens of the metadata, the FIM padding and separator tokens, and the
// tokens of eogTexts. Tokens found by their text become control tokens, so
// that a template's "<|im_end|>" is one token even in files that mark it
// otherwise (as llama.cpp overrides them).
func (v *vocab) endOfGeneration(f *gguf.File) error {
	v.eog = map[int32]bool{}
	add := func(id int, byText bool) {
		if id < 0 || id >= len(v.tokens) {
			return
		}
		v.eog[int32(id)] = true
		if byText && v.types != nil && v.types[id] != typeControl {
			v.types[id] = typeControl
		}
	}
	byText := func(texts ...string) bool {
		found := false
		for _, s := range texts {
			if id, ok := v.ids[s]; ok {
				add(int(id), true)
				found = true
			}
		}
		return found
	}
	add(v.eos, false)
	for _, key := range []string{"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
		"tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"} {
		if !f.Has(key) {
			if texts := fimTexts[key]; texts != nil {
				byText(texts...)
			}
			if key == "tokenizer.ggml.eot_token_id" {
				byText(turnTexts...)
			}
			continue
		}
		n, err := f.Int64(key)
		if err != nil {
			return err
		}
		add(int(n), false)
	}
	byText(eogTexts...)
	return nil
}

func ggufVocab(f *gguf.File) (vocab, error) {
	var v vocab
	var err error
	if v.tokens, err = f.Strings("tokenizer.ggml.tokens"); err != nil {
		return v, err
	}
	if f.Has("tokenizer.ggml.token_type") {
		if v.types, err = f.Int32s("tokenizer.ggml.token_type"); err != nil {
			return v, err
		}
		if len(v.types) != len(v.tokens) {
			return v, fmt.Errorf("%d token types for %d tokens", len(v.types), len(v.tokens))
		}
	}
	id := func(key string, def int) (int, error) {
		if !f.Has(key) {
			return def, nil
		}
		n, err := f.Int64(key)
		if err != nil {
			return 0, err
		}
		if n < -1 || n >= int64(len(v.tokens)) {
			return -1, nil // llama.cpp ignores ids outside the vocabulary
		}
		return int(n), nil
	}
	if v.bos, err = id("tokenizer.ggml.bos_token_id", -1); err != nil {
		return v, err
	}
	if v.eos, err = id("tokenizer.ggml.eos_token_id", -1); err != nil {
		return v, err
	}
	if v.unk, err = id("tokenizer.ggml.unknown_token_id", -1); err != nil {
		return v, err
	}
	if err := v.check(); err != nil {
		return v, err
	}
	v.index()
	if err := v.endOfGeneration(f); err != nil {
		return v, err
	}
	for i := range v.tokens {
		switch v.tokenType(i) {
		case typeControl, typeUserDefined, typeUnknown:
			v.specials = append(v.specials, int32(i))
		}
	}
	slices.SortStableFunc(v.specials, func(a, b int32) int { return len(v.tokens[b]) - len(v.tokens[a]) })
	if err := v.stripAttributes(f); err != nil {
		return v, err
	}
	return v, nil
}

func newSPM(f *gguf.File, v vocab) (*SPM, error) {
	scores, err := f.Float32s("tokenizer.ggml.scores")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: llama vocabulary: %w", err)
	}
	if len(scores) != len(v.tokens) {
		return nil, fmt.Errorf("tokenizer: llama vocabulary: %d scores for %d tokens", len(scores), len(v.tokens))
	}
	t := &SPM{vocab: v, spacePrefix: true, spaceID: -1}
	t.encodeFunc = t.encode
	t.scores = scores
	if f.Has("tokenizer.ggml.add_space_prefix") {
		if t.spacePrefix, err = f.Bool("tokenizer.ggml.add_space_prefix"); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	t.stripSpace = t.spacePrefix
	for i := range t.byteID {
		t.byteID[i] = int32(max(t.unk, 0))
		if id, ok := t.ids[fmt.Sprintf("<0x%02X>", i)]; ok {
			t.byteID[i] = id
		} else if id, ok := t.ids[string([]byte{byte(i)})]; ok {
			t.byteID[i] = id
		}
	}
	t.pieces = make([]string, len(t.tokens))
	for i, s := range t.tokens {
		switch t.tokenType(i) {
		case typeNormal:
			t.pieces[i] = strings.ReplaceAll(s, spmSpace, " ")
		case typeByte:
			if b, ok := parseByteToken(s); ok {
				t.pieces[i] = string([]byte{b})
			}
		case typeUnknown:
			t.pieces[i] = "\u2585" // what llama.cpp shows for <unk>
		case typeUserDefined:
			t.pieces[i] = s
		}
	}
	return t, nil
}

// stripAttributes sets the special tokens that swallow the white space
// after them, which llama.cpp decides by the model's name: Phi-3's turn
// markers do (a template's "<|user|>\n" is the marker alone), its BOS,
// unknown and end-of-text tokens do not.
func (v *vocab) stripAttributes(f *gguf.File) error {
	if !f.Has("general.name") {
		return nil
	}
	name, err := f.String("general.name")
	if err != nil {
		return err
	}
	name = strings.ToLower(name)
	if !strings.Contains(name, "phi-3") && !strings.Contains(name, "phi3") {
		return nil
	}
	v.rstrip = map[int32]bool{}
	for _, id := range v.specials {
		v.rstrip[id] = true
	}
	if id, ok := v.ids["</s>"]; ok {
		v.rstrip[id] = true
	}
	for _, t := range []string{"<unk>", "<s>", "<|endoftext|>"} {
		if id, ok := v.ids[t]; ok {
			delete(v.rstrip, id)
		}
	}
	return nil
}
