package tokenizer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
)

// llama2cFile encodes tokens and scores in tokenizer.bin's format.
func llama2cFile(tokens []string, scores []float32) []byte {
	le := binary.LittleEndian
	maxLen := 0
	for _, s := range tokens {
		maxLen = max(maxLen, len(s))
	}
	b := le.AppendUint32(nil, uint32(maxLen))
	for i, s := range tokens {
		b = le.AppendUint32(b, math.Float32bits(scores[i]))
		b = le.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// synthVocab is a small SentencePiece-style vocabulary: <unk> <s> </s>, the
// 256 byte tokens, then pieces whose scores favour longer merges.
func synthVocab(space string) (tokens []string, scores []float32, types []int32) {
	tokens = []string{"<unk>", "<s>", "</s>"}
	types = []int32{typeUnknown, typeControl, typeControl}
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, typeByte)
	}
	scores = make([]float32, len(tokens))
	pieces := []string{space, "a", "b", "c", "h", "e", "l", "o", "é", "ab", "abc", space + "a", space + "ab", "he", "ll", "hell", "hello", space + "hello", "lo", space + space, "ä¸"}
	for i, p := range pieces {
		tokens = append(tokens, p)
		scores = append(scores, -float32(len(pieces)-i)+float32(len(p))*3)
		types = append(types, typeNormal)
	}
	return tokens, scores, types
}

func synthLlama2c(t testing.TB) *SPM {
	tokens, scores, _ := synthVocab(" ")
	tok, err := ParseLlama2c(llama2cFile(tokens, scores))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// synthGGUF writes a GGUF vocabulary file with the given metadata.
func synthGGUF(t testing.TB, kv ...any) []byte {
	t.Helper()
	w := gguf.NewWriter()
	for i := 0; i < len(kv); i += 2 {
		if err := w.Add(kv[i].(string), kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	// A tensor too, so the file is shaped like a model.
	if err := w.AddTensor("token_embd.weight", ggml.F32, []uint64{1}, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func synthSPMFile(t testing.TB) []byte {
	tokens, scores, types := synthVocab(spmSpace)
	return synthGGUF(t, "tokenizer.ggml.model", "llama", "tokenizer.ggml.tokens", tokens,
		"tokenizer.ggml.scores", scores, "tokenizer.ggml.token_type", types,
		"tokenizer.ggml.bos_token_id", uint32(1), "tokenizer.ggml.eos_token_id", uint32(2),
		"tokenizer.ggml.unknown_token_id", uint32(0))
}

func synthBPEFile(t testing.TB) []byte {
	return synthBPEMerges(t, "Ġ t", "h e", "Ġt he", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor ld")
}

func synthBPEMerges(t testing.TB, merges ...string) []byte {
	return synthBPE(t, "gpt-2", nil, merges...)
}

func synthBPE(t testing.TB, pre string, extra []string, merges ...string) []byte {
	var tokens []string
	for _, r := range byteRunes() {
		tokens = append(tokens, string(r))
	}
	for _, m := range merges {
		if m != "Ġ 1" { // "Ġ1" is left out of the vocabulary on purpose
			tokens = append(tokens, strings.ReplaceAll(m, " ", ""))
		}
	}
	tokens = append(tokens, extra...)
	tokens = append(tokens, "<|endoftext|>", "<|user|>")
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = typeNormal
	}
	types[len(types)-2] = typeControl
	types[len(types)-1] = typeUserDefined
	return synthGGUF(t, "tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", pre,
		"tokenizer.ggml.tokens", tokens, "tokenizer.ggml.token_type", types, "tokenizer.ggml.merges", merges,
		"tokenizer.ggml.bos_token_id", uint32(len(tokens)-2), "tokenizer.ggml.eos_token_id", uint32(len(tokens)-2))
}

func fromGGUF(t testing.TB, data []byte) Tokenizer {
	t.Helper()
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// refRunC is run.c's encode written as plainly as run.c writes it: scan all
// adjacent pairs for the best-scoring merge, merge, repeat. It checks the
// queue-based implementation.
func refRunC(t *SPM, text string, bos bool) []int {
	lookup := func(s string) int {
		if id, ok := t.ids[s]; ok { // the lowest id with that text
			return int(id)
		}
		return -1
	}
	var toks []int
	if bos {
		toks = append(toks, 1)
	}
	if text != "" {
		if id := lookup(" "); id >= 0 {
			toks = append(toks, id)
		}
	}
	buf := ""
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c&0xC0 != 0x80 {
			buf = ""
		}
		buf += string([]byte{c})
		if i+1 < len(text) && text[i+1]&0xC0 == 0x80 && len(buf) < 4 {
			continue
		}
		if id := lookup(buf); id >= 0 {
			toks = append(toks, id)
		} else {
			for j := 0; j < len(buf); j++ {
				toks = append(toks, int(buf[j])+3)
			}
		}
		buf = ""
	}
	start := 0
	if bos {
		start = 1
	}
	for {
		best, bestID, bestIdx := float32(-1e10), -1, -1
		for i := start; i < len(toks)-1; i++ {
			id := lookup(t.tokens[toks[i]] + t.tokens[toks[i+1]])
			if id != -1 && t.scores[id] > best {
				best, bestID, bestIdx = t.scores[id], id, i
			}
		}
		if bestIdx < 0 {
			return toks
		}
		toks[bestIdx] = bestID
		toks = slices.Delete(toks, bestIdx+1, bestIdx+2)
	}
}

func sharedTokenizer(t testing.TB, name string) Tokenizer {
	tok, err := Open(filepath.Join(sharedDir(t, "models"), name))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var sampleTexts = []string{
	"", " ", "  ", "Once upon a time", "Once upon a time, there was a little girl named Lily.",
	"Hello world", " Hello  world ", "\n\ttabs\nand newlines\n\n", "Lily 😁 é ü ñ 我想在apple工作",
	"3333 1.5 -2", "don't I'll we've", "<s>not special</s>", "a\x00b", "ababcab hello hellohello",
}

func TestLlama2cKnownIDs(t *testing.T) {
	for _, c := range []struct {
		file, text string
		bos        bool
		want       []int
	}{
		// run.c ./run stories15M.bin -i "Once upon a time" encodes this.
		{"tokenizer.bin", "Once upon a time", true, []int{1, 9038, 2501, 263, 931}},
		{"tokenizer.bin", "Once upon a time", false, []int{9038, 2501, 263, 931}},
		{"tokenizer.bin", "", true, []int{1}},
		// 😁 is not in the vocabulary: byte fallback, id = byte+3.
		{"tokenizer.bin", "😁", false, []int{29871, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x81 + 3}},
		{"tok512.bin", "Once upon a time", true, []int{1, 403, 407, 261, 378}},
	} {
		tok := sharedTokenizer(t, c.file)
		if got := tok.Encode(c.text, c.bos); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q bos=%v: got %v want %v", c.file, c.text, c.bos, got, c.want)
		}
	}
}

// llama2cTokenizers returns the synthetic llama2.c tokenizer and the shared
// ones, when present.
func llama2cTokenizers(t *testing.T) map[string]*SPM {
	toks := map[string]*SPM{"synthetic": synthLlama2c(t)}
	if dir, ok := sharedPath("models"); ok {
		for _, name := range []string{"tok512.bin", "tokenizer.bin"} {
			tok, err := Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			toks[name] = tok.(*SPM)
		}
	}
	return toks
}

func TestRunCReference(t *testing.T) {
	toks := llama2cTokenizers(t)
	for name, tok := range toks {
		for _, s := range sampleTexts {
			for _, bos := range []bool{false, true} {
				got, want := tok.Encode(s, bos), refRunC(tok, s, bos)
				if !equal(got, want) {
					t.Errorf("%s %q: got %v, run.c reference %v", name, s, got, want)
				}
			}
		}
	}
}

func TestDecoderHoldsSplitCharacters(t *testing.T) {
	tok := synthLlama2c(t)
	ids := tok.Encode("a😁é", false)
	// "😁" is four byte tokens; "é" is a token of its own.
	want := []int{tok.lookupID(" a"), 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x81 + 3, tok.lookupID("é")}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	d := NewDecoder(tok, tok.BOS())
	var got []string
	for _, id := range ids {
		got = append(got, d.Next(id))
	}
	if w := []string{"a", "", "", "", "😁", "é"}; !reflect.DeepEqual(got, w) {
		t.Fatalf("pieces %q, want %q", got, w)
	}
	if f := d.Flush(); f != "" {
		t.Fatalf("Flush = %q", f)
	}

	// An incomplete character at the end comes out as U+FFFD on Flush;
	// an invalid byte at once.
	d = NewDecoder(tok, 5)
	if s := d.Next(0xE4 + 3); s != "" {
		t.Fatalf("lead byte alone gave %q", s)
	}
	if s := d.Next(0xB8 + 3); s != "" {
		t.Fatalf("two of three bytes gave %q", s)
	}
	if s := d.Next(tok.lookupID("a")); s != "\uFFFD\uFFFDa" {
		t.Fatalf("broken sequence then a: %q", s)
	}
	d.Next(0xE4 + 3)
	if s := d.Flush(); s != "\uFFFD" {
		t.Fatalf("Flush of a lead byte = %q", s)
	}
	if s := d.Next(0xFF + 3); s != "\uFFFD" {
		t.Fatalf("0xFF gave %q", s)
	}
}

// lookupID is a test helper: the id of a token's text.
func (v *vocab) lookupID(s string) int {
	id, ok := v.ids[s]
	if !ok {
		panic("no token " + s)
	}
	return int(id)
}

func TestDecoderLeadingSpace(t *testing.T) {
	tok := sharedTokenizer(t, "tokenizer.bin")
	ids := tok.Encode("Once upon a time", true)
	// After BOS the first piece loses its space, as run.c prints it.
	d := NewDecoder(tok, ids[0])
	var got []string
	for _, id := range ids[1:] {
		got = append(got, d.Next(id))
	}
	if w := []string{"Once", " upon", " a", " time"}; !reflect.DeepEqual(got, w) {
		t.Fatalf("got %q want %q", got, w)
	}
	// Continuing a prompt keeps it.
	d = NewDecoder(tok, ids[len(ids)-1])
	if s := d.Next(ids[1]); s != " Once" {
		t.Fatalf("after a prompt token: %q", s)
	}
	if s := tok.Decode(ids); s != "Once upon a time" {
		t.Fatalf("Decode = %q", s)
	}
}

func allTokenizers(t testing.TB) map[string]Tokenizer {
	m := map[string]Tokenizer{
		"synthetic llama2c": synthLlama2c(t),
		"synthetic spm":     fromGGUF(t, synthSPMFile(t)),
		"synthetic bpe":     fromGGUF(t, synthBPEFile(t)),
		"synthetic llama3":  fromGGUF(t, synthBPE(t, "llama-bpe", []string{"Ġhello", "123"}, "Ġ t", "h e", "Ġt he")),
	}
	if dir, ok := sharedPath("models"); ok {
		for _, n := range []string{"tok512.bin", "tokenizer.bin"} {
			if tok, err := Open(filepath.Join(dir, n)); err == nil {
				m[n] = tok
			}
		}
	}
	if dir, ok := sharedPath("testdata/vocab"); ok {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
		for _, p := range paths {
			if tok, err := Open(p); err == nil {
				m[filepath.Base(p)] = tok
			}
		}
	}
	return m
}

// roundTrips reports whether Decode(Encode(s)) must give s back with tok.
func roundTrips(tok Tokenizer, s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	if spm, ok := tok.(*SPM); ok {
		if spm.runc {
			// run.c merges the text "<0x41>" into the byte token for 'A'.
			return !strings.Contains(s, "<0x")
		}
		return !strings.Contains(s, spmSpace) // "▁" decodes as a space
	}
	return true
}

func TestRoundTrip(t *testing.T) {
	for name, tok := range allTokenizers(t) {
		for _, s := range sampleTexts {
			if !roundTrips(tok, s) {
				continue
			}
			ids := tok.Encode(s, true)
			if got := tok.Decode(ids); got != s {
				t.Errorf("%s: Decode(Encode(%q)) = %q (ids %v)", name, s, got, ids)
			}
			d := NewDecoder(tok, -1)
			var b strings.Builder
			for _, id := range ids {
				b.WriteString(d.Next(id))
			}
			b.WriteString(d.Flush())
			if b.String() != s {
				t.Errorf("%s: streamed %q, want %q", name, b.String(), s)
			}
			if got := tok.AppendEncode([]int{7}, s, true); !equal(got[1:], ids) || got[0] != 7 {
				t.Errorf("%s: AppendEncode = %v, want 7 then %v", name, got, ids)
			}
		}
	}
}

func TestSpecialTokens(t *testing.T) {
	bpe := fromGGUF(t, synthBPEFile(t)).(*BPE)
	eot, user := bpe.VocabSize()-2, bpe.VocabSize()-1
	// User-defined tokens always match whole; control tokens only when
	// special tokens are parsed.
	got := bpe.Encode("hello<|user|> the<|endoftext|>", false)
	want := append([]int{bpe.lookupID("hello"), user, bpe.lookupID("Ġthe")}, bpe.Encode("<|endoftext|>", false)...)
	if !equal(got, want) || slices.Contains(got, eot) {
		t.Errorf("Encode: got %v want %v", got, want)
	}
	if got := bpe.EncodeSpecial("hello<|user|> the<|endoftext|>", false); !equal(got, []int{bpe.lookupID("hello"), user, bpe.lookupID("Ġthe"), eot}) {
		t.Errorf("EncodeSpecial: %v", got)
	}
	if s := bpe.Decode([]int{bpe.lookupID("hello"), eot, user}); s != "hello<|user|>" {
		t.Errorf("Decode with control token = %q", s)
	}

	spm := fromGGUF(t, synthSPMFile(t)).(*SPM)
	// After a special token the dummy space prefix comes back.
	if got, want := spm.EncodeSpecial("ab<s>ab", true), []int{1, spm.lookupID("▁ab"), 1, spm.lookupID("▁ab")}; !equal(got, want) {
		t.Errorf("spm EncodeSpecial: got %v want %v", got, want)
	}
	if got := spm.Encode("<s>", false); slices.Contains(got, 1) {
		t.Errorf("spm Encode matched <s> without parse_special: %v", got)
	}
}

// A merge whose result is not a token leaves the single bytes of the merged
// text that are tokens on their own, as llama.cpp does: "Ġ1" gives "1".
func TestBPEMergeOutsideVocab(t *testing.T) {
	tok := fromGGUF(t, synthBPEMerges(t, "Ġ 1", "Ġ w")).(*BPE)
	if got, want := tok.Encode("1 1 w", false), []int{tok.lookupID("1"), tok.lookupID("1"), tok.lookupID("Ġw")}; !equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

// Llama 3's pre-tokenizer splits digits in threes, and a word that is a
// token is taken whole even when no merges lead to it.
func TestLlama3BPE(t *testing.T) {
	merges := []string{"Ġ t", "h e", "Ġt he"}
	l3 := fromGGUF(t, synthBPE(t, "llama-bpe", []string{"Ġhello", "123"}, merges...)).(*BPE)
	g2 := fromGGUF(t, synthBPE(t, "gpt-2", []string{"Ġhello", "123"}, merges...)).(*BPE)
	id := l3.lookupID
	if got, want := l3.Encode(" hello the 1234", false), []int{id("Ġhello"), id("Ġthe"), id("Ġ"), id("123"), id("4")}; !equal(got, want) {
		t.Errorf("llama-bpe: got %v want %v", got, want)
	}
	// gpt-2 has no merges to "Ġhello" and keeps " 1234" one word.
	want := []int{id("Ġ"), id("he"), id("l"), id("l"), id("o"), id("Ġthe"), id("Ġ"), id("1"), id("2"), id("3"), id("4")}
	if got := g2.Encode(" hello the 1234", false); !equal(got, want) {
		t.Errorf("gpt-2: got %v want %v", got, want)
	}
}

func TestSharedSpecialTokens(t *testing.T) {
	dir := sharedDir(t, "testdata/vocab")
	spm, err := Open(filepath.Join(dir, "ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if got := spm.(SpecialEncoder).EncodeSpecial("<s>Hello", false); !equal(got, []int{1, 15043}) {
		t.Errorf("llama-spm EncodeSpecial = %v", got)
	}
	gpt2, err := Open(filepath.Join(dir, "ggml-vocab-gpt-2.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if gpt2.BOS() != 50256 || gpt2.EOS() != 50256 || gpt2.VocabSize() != 50257 {
		t.Errorf("gpt-2 bos %d eos %d size %d", gpt2.BOS(), gpt2.EOS(), gpt2.VocabSize())
	}
}

func TestParseLlama2cErrors(t *testing.T) {
	tokens, scores, _ := synthVocab(" ")
	good := llama2cFile(tokens, scores)
	le := binary.LittleEndian
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"bad max length", le.AppendUint32(nil, 0), "max_token_length 0 is implausible"},
		{"gguf", []byte("GGUF\x03\x00\x00\x00"), "implausible"},
		{"truncated entry", good[:len(good)-3], "runs past the end"},
		{"truncated score", good[:4+4], "token 0: truncated"},
		{"negative length", le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 8), 0), 0xFFFFFFFF), "length -1"},
		{"too long", append(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 2), 0), 5), "hello"...), "exceeds max_token_length 2"},
		{"too few", llama2cFile([]string{"a"}, []float32{0}), "too few"},
	} {
		_, err := ParseLlama2c(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestFromGGUFErrors(t *testing.T) {
	tokens, scores, types := synthVocab(spmSpace)
	for _, c := range []struct {
		name string
		kv   []any
		want string
	}{
		{"no model", nil, `"tokenizer.ggml.model": not found`},
		{"bert", []any{"tokenizer.ggml.model", "bert"}, `"bert" is not supported`},
		{"unknown model", []any{"tokenizer.ggml.model", "zzz"}, `unknown tokenizer.ggml.model "zzz"`},
		{"no tokens", []any{"tokenizer.ggml.model", "llama"}, `"tokenizer.ggml.tokens": not found`},
		{"no scores", []any{"tokenizer.ggml.model", "llama", "tokenizer.ggml.tokens", tokens}, `"tokenizer.ggml.scores": not found`},
		{"short scores", []any{"tokenizer.ggml.model", "llama", "tokenizer.ggml.tokens", tokens, "tokenizer.ggml.scores", scores[:3]}, "3 scores for 280 tokens"},
		{"short types", []any{"tokenizer.ggml.model", "llama", "tokenizer.ggml.tokens", tokens, "tokenizer.ggml.token_type", types[:2]}, "2 token types for 280 tokens"},
		{"bad pre", []any{"tokenizer.ggml.model", "gpt2", "tokenizer.ggml.tokens", tokens, "tokenizer.ggml.pre", "no-such-pre"}, `pre-tokenizer "no-such-pre" is not supported`},
		{"bad merge", []any{"tokenizer.ggml.model", "gpt2", "tokenizer.ggml.tokens", tokens, "tokenizer.ggml.pre", "gpt-2", "tokenizer.ggml.merges", []string{"ab"}}, `merge 0 "ab" has no space`},
		{"empty vocab", []any{"tokenizer.ggml.model", "llama", "tokenizer.ggml.tokens", []string{}}, "empty vocabulary"},
	} {
		f, err := gguf.Parse(synthGGUF(t, c.kv...))
		if err != nil {
			t.Fatal(err)
		}
		_, err = FromGGUF(f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file opened")
	}
	p := filepath.Join(dir, "bad.gguf")
	writeFile(t, p, []byte("GGUF\x09\x00\x00\x00"))
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "unsupported version 9") {
		t.Errorf("bad gguf: %v", err)
	}
}

func FuzzParseLlama2c(f *testing.F) {
	tokens, scores, _ := synthVocab(" ")
	f.Add(llama2cFile(tokens, scores), "hello ab é")
	f.Add([]byte{4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'a'}, "a")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		tok, err := ParseLlama2c(data)
		if err != nil {
			return
		}
		for _, id := range tok.Encode(text, true) {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d outside a %d-token vocabulary", id, tok.VocabSize())
			}
		}
		_ = tok.Decode(tok.Encode(text, false))
	})
}

func FuzzFromGGUF(f *testing.F) {
	f.Add(synthSPMFile(f), "hello ab<s> é")
	f.Add(synthBPEFile(f), "hello world<|user|> 1")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		file, err := gguf.Parse(data)
		if err != nil {
			return
		}
		tok, err := FromGGUF(file)
		if err != nil {
			return
		}
		for _, id := range tok.(SpecialEncoder).EncodeSpecial(text, true) {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d outside a %d-token vocabulary", id, tok.VocabSize())
			}
		}
		_ = tok.Decode(tok.Encode(text, false))
	})
}

func FuzzRoundTrip(f *testing.F) {
	toks := allTokenizers(f)
	for _, s := range sampleTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, tok := range toks {
			for _, id := range tok.(SpecialEncoder).EncodeSpecial(s, true) {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("%s: EncodeSpecial(%q) gave id %d of %d", name, s, id, tok.VocabSize())
				}
			}
			ids := tok.Encode(s, false)
			if !roundTrips(tok, s) {
				continue
			}
			if got := tok.Decode(ids); got != s {
				t.Fatalf("%s: Decode(Encode(%q)) = %q (ids %v)", name, s, got, ids)
			}
		}
	})
}

// A llama2.c tokenizer carried into GGUF (as runnel convert does) encodes
// and decodes the same texts the same way.
func TestLlama2cToGGUF(t *testing.T) {
	toks := llama2cTokenizers(t)
	for name, l2c := range toks {
		w := gguf.NewWriter()
		for _, kv := range l2c.GGUFMetadata() {
			if err := w.Add(kv.Key, kv.Value); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		g := fromGGUF(t, buf.Bytes())
		if g.BOS() != 1 || g.EOS() != 2 || g.VocabSize() != l2c.VocabSize() {
			t.Fatalf("%s: bos %d eos %d size %d", name, g.BOS(), g.EOS(), g.VocabSize())
		}
		for _, s := range sampleTexts {
			want := l2c.Encode(s, true)
			if got := g.Encode(s, true); !equal(got, want) {
				t.Errorf("%s %q: gguf %v, llama2.c %v", name, s, got, want)
			}
			if got, want := g.Decode(want), l2c.Decode(want); got != want {
				t.Errorf("%s %q: gguf decodes %q, llama2.c %q", name, s, got, want)
			}
		}
	}
}
