package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/runnel/runnel/engine/sampler"
	"github.com/runnel/runnel/engine/synth"
)

// archRef is what llama.cpp computed for one synthetic model
// (testdata/arch/README.md says how): for each prompt of token ids, the
// greedy continuation and the top logits at some steps.
type archRef struct {
	Prompts []struct {
		Prompt []int `json:"prompt"`
		Greedy []int `json:"greedy"`
		Top    []struct {
			Step   int       `json:"step"`
			IDs    []int     `json:"ids"`
			Logits []float32 `json:"logits"`
		} `json:"top"`
	} `json:"prompts"`
}

func readRef(t *testing.T, name string) archRef {
	b, err := os.ReadFile(filepath.Join("testdata", "arch", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref archRef
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	if len(ref.Prompts) == 0 {
		t.Fatalf("%s.json has no prompts", name)
	}
	return ref
}

// logitTol is how far a logit may be from llama.cpp's, relative to its
// size (at least 1): both sum in float32 in different orders (ggml's SIMD
// products against ours), which moves logits of a few units by ~1e-6.
// geluTol is for GELU models: GELU goes through a half-precision table
// (see geluMul), so a hidden value that lands on the other side of a
// half-precision rounding boundary moves by one half-precision step; the
// two llama.cpp versions of testdata/arch/README.md differ by 2.8e-4 on
// the same Gemma 2 file.
const logitTol, geluTol = 1e-4, 1e-3

// TestArchMatchesLlamaCpp runs every architecture's synthetic model on
// the reference prompts, each prompt alone and all of them batched
// together (one prefill step, then decode steps of one token per
// sequence), and checks the greedy tokens equal llama.cpp's and the top
// logits are within logitTol of its.
func TestArchMatchesLlamaCpp(t *testing.T) {
	for _, s := range synth.Specs {
		t.Run(s.Name, func(t *testing.T) {
			ref := readRef(t, s.Name)
			m := synthModel(t, s)
			defer m.Close()
			for i, p := range ref.Prompts {
				got := greedy(t, m, p.Prompt, len(p.Greedy))
				if !slices.Equal(got, p.Greedy) {
					t.Errorf("prompt %d alone: greedy\n got %v\nwant %v", i, got, p.Greedy)
				}
			}
			// All prompts in one batch: the scheduler's path.
			seqs := make([]*Sequence, len(ref.Prompts))
			var es []Entry
			for i, p := range ref.Prompts {
				seqs[i] = m.NewSequence()
				for j, tok := range p.Prompt {
					es = append(es, Entry{Seq: seqs[i], Token: tok, WantLogits: j == len(p.Prompt)-1})
				}
			}
			b := m.NewBatch(len(es))
			got := make([][]int, len(seqs))
			for step := 0; ; step++ {
				if err := b.Step(es); err != nil {
					t.Fatal(err)
				}
				var next []Entry
				for _, e := range es {
					if !e.WantLogits {
						continue
					}
					i := slices.Index(seqs, e.Seq)
					p := ref.Prompts[i]
					for _, top := range p.Top {
						if top.Step == step {
							tol := logitTol
							if m.gelu {
								tol = geluTol
							}
							checkTop(t, fmt.Sprintf("prompt %d step %d", i, step), e.Logits, top.IDs, top.Logits, tol)
						}
					}
					got[i] = append(got[i], sampler.Argmax(e.Logits))
					if len(got[i]) < len(p.Greedy) {
						next = append(next, Entry{Seq: e.Seq, Token: got[i][len(got[i])-1], WantLogits: true})
					}
				}
				if len(next) == 0 {
					break
				}
				es = next
			}
			for i, p := range ref.Prompts {
				if !slices.Equal(got[i], p.Greedy) {
					t.Errorf("prompt %d batched: greedy\n got %v\nwant %v", i, got[i], p.Greedy)
				}
			}
		})
	}
}

func checkTop(t *testing.T, where string, logits []float32, ids []int, want []float32, tol float64) {
	t.Helper()
	for k, id := range ids {
		if d := math.Abs(float64(logits[id] - want[k])); !(d <= tol*max(1, math.Abs(float64(want[k])))) {
			t.Errorf("%s: logit[%d] = %.7g, llama.cpp has %.7g (off by %.2g)", where, id, logits[id], want[k], d)
		}
	}
}
