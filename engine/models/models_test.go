package models

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/model"
	"github.com/runnel/runnel/engine/sampler"
	"github.com/runnel/runnel/internal/testmodels"
)

func TestListAndFind(t *testing.T) {
	dir := testmodels.Dir(t)
	list, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	// tok512.bin and tokenizer.bin are tokenizers, not checkpoints.
	if len(list) != 1 || list[0].Name != "stories260K" || list[0].Format != FormatLlama2C ||
		list[0].ContextLength != 512 || list[0].Params == 0 || filepath.Base(list[0].Tokenizer) != "tok512.bin" {
		t.Fatalf("List = %+v", list)
	}
	for _, name := range []string{"stories260K", "engine/stories260K", "stories260K.bin", ""} {
		m, err := Find(dir, name)
		if err != nil || m.Path != list[0].Path {
			t.Errorf("Find(%q) = %+v, %v", name, m, err)
		}
	}
	for _, name := range []string{"nope", "../models/stories260K", "tok512", "tokenizer"} {
		if _, err := Find(dir, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find(%q): %v, want ErrNotFound", name, err)
		}
	}
	if l, err := List(filepath.Join(t.TempDir(), "missing")); err != nil || len(l) != 0 {
		t.Fatalf("missing dir: %v, %v", l, err)
	}
}

// greedyIDs decodes n tokens greedily after the reference prompt.
func greedyIDs(t *testing.T, m *model.Model, n int) []int {
	s := m.NewSequence()
	b := m.NewBatch(8)
	es := []model.Entry{}
	for i, tok := range testmodels.GreedyPromptIDs {
		es = append(es, model.Entry{Seq: s, Token: tok, WantLogits: i == len(testmodels.GreedyPromptIDs)-1})
	}
	var out []int
	for len(out) < n {
		if err := b.Step(es); err != nil {
			t.Fatal(err)
		}
		tok := sampler.Argmax(es[len(es)-1].Logits)
		out = append(out, tok)
		es = []model.Entry{{Seq: s, Token: tok, WantLogits: true}}
	}
	return out
}

// TestConvert converts stories260K to GGUF at each type and compares the
// greedy tokens with llama2.c's: F32 and F16 must match exactly; for Q8_0
// and Q4_0 the agreement is measured and logged.
func TestConvert(t *testing.T) {
	dir := testmodels.Dir(t)
	out := t.TempDir()
	for _, name := range []string{"f32", "f16", "bf16", "q8_0", "q4_0"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(out, "stories260K-"+name+".gguf")
			rep, err := Convert(filepath.Join(dir, "stories260K.bin"), filepath.Join(dir, "tok512.bin"), path, ConvertTypes[name])
			if err != nil {
				t.Fatal(err)
			}
			// 5 layers × 9 tensors, the embedding and the final norm; the
			// classifier is shared.
			if rep.Tensors != 47 {
				t.Fatalf("%d tensors", rep.Tensors)
			}
			if ConvertTypes[name] == ggml.Q8_0 || ConvertTypes[name] == ggml.Q4_0 {
				// hidden_dim 172 is not a multiple of 32: ffn_down falls back.
				if len(rep.Fallback) != 5 {
					t.Fatalf("fallbacks %v", rep.Fallback)
				}
			}
			m, f, err := model.OpenGGUF(path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if tok, _ := f.Strings("tokenizer.ggml.tokens"); len(tok) != 512 || tok[403] == "" {
				t.Fatalf("tokenizer not embedded: %d tokens", len(tok))
			}
			got := greedyIDs(t, m, len(testmodels.GreedyIDs))
			same, first := 0, -1
			for i := range got {
				if got[i] == testmodels.GreedyIDs[i] {
					same++
				} else if first < 0 {
					first = i
				}
			}
			t.Logf("%s: %d bytes; %d/%d greedy tokens identical to llama2.c (%.1f%%), first difference at %d",
				name, rep.Bytes, same, len(got), 100*float64(same)/float64(len(got)), first)
			if (name == "f32" || name == "f16") && !slices.Equal(got, testmodels.GreedyIDs) {
				t.Fatalf("%s greedy tokens differ from llama2.c at %d", name, first)
			}
			if same == 0 {
				t.Fatal("no token agrees: the conversion is broken")
			}
		})
	}
}

func TestConvertErrors(t *testing.T) {
	dir := testmodels.Dir(t)
	out := filepath.Join(t.TempDir(), "x.gguf")
	// tokenizer.bin has 32000 tokens, stories260K 512.
	_, err := Convert(filepath.Join(dir, "stories260K.bin"), filepath.Join(dir, "tokenizer.bin"), out, ggml.F32)
	if err == nil {
		t.Fatal("mismatched tokenizer accepted")
	}
	if _, err := Convert(filepath.Join(dir, "tok512.bin"), filepath.Join(dir, "tok512.bin"), out, ggml.F32); err == nil {
		t.Fatal("tokenizer accepted as a checkpoint")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("failed conversion left %s: %v", out, err)
	}
}

func FuzzParseTokenizerBin(f *testing.F) {
	f.Add([]byte{4, 0, 0, 0, 0, 0, 128, 63, 1, 0, 0, 0, 'a'})
	f.Add([]byte{4, 0, 0, 0, 0, 0, 128, 63, 255, 255, 255, 255})
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		pieces, scores, err := ParseTokenizerBin(b)
		if err == nil && len(pieces) != len(scores) {
			t.Fatalf("%d pieces, %d scores", len(pieces), len(scores))
		}
	})
}
