package model

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/sampler"
	"github.com/runnel/runnel/engine/synth"
)

// testModel is a model the prefill and batching tests run: every
// architecture's spec (f32 weights), and a small llama shape in the
// quantized mixes, whose products go through the integer kernels.
type testModel struct {
	name string
	m    *Model
	// quantized: every product takes 8-bit activations, whose
	// quantization is per token, so results do not depend on how tokens
	// are grouped into steps at all: they must match bit for bit.
	quantized bool
}

func testModels(t *testing.T) []testModel {
	var ms []testModel
	for _, s := range synth.Specs {
		m := synthModel(t, s)
		t.Cleanup(func() { m.Close() })
		ms = append(ms, testModel{name: s.Name, m: m})
	}
	shape := synth.Shape{Name: "small", Dim: 256, Hidden: 512, Layers: 2, Heads: 4, KVs: 2, Vocab: 300, RopeBase: 10000}
	for _, mix := range synth.Mixes {
		p := filepath.Join(t.TempDir(), mix+".gguf")
		if _, err := synth.WriteGGUF(p, shape, mix, 5); err != nil {
			t.Fatal(err)
		}
		m, _, err := OpenGGUF(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		if m.embed.Type == ggml.F32 {
			t.Fatalf("%s: embeddings are f32", mix)
		}
		ms = append(ms, testModel{name: "small-" + mix, m: m, quantized: true})
	}
	return ms
}

// prompt is n token ids of m's vocabulary.
func prompt(m *Model, n, seed int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = (seed*131 + i*37 + 1) % m.VocabSize
	}
	return p
}

// f32Tol bounds the relative difference of logits whose f32 sums were
// grouped differently (the f32 product takes one to three vectors and
// four or more in different kernels); GELU models get geluTol, as GELU's
// half-precision table turns a last-bit difference into a half-precision
// step (see geluTol).
func f32Tol(m *Model) float64 {
	if m.gelu {
		return geluTol
	}
	return 1e-5
}

// relDiff is the largest difference of a and b relative to b's largest
// magnitude (at least 1).
func relDiff(a, b []float32) float64 {
	var d, mag float64 = 0, 1
	for i := range b {
		d = max(d, math.Abs(float64(a[i]-b[i])))
		mag = max(mag, math.Abs(float64(b[i])))
	}
	return d / mag
}

// TestPrefillMatchesStepwiseArchs processes a prompt (longer than a key
// tile and several query blocks, and than the sliding windows of the
// specs that have them) in one step and token by token, on every
// architecture: the logits at every position agree within the rounding
// that regrouped f32 sums explain (exactly with quantized weights), the
// greedy tokens are the same everywhere, and so is the greedy
// continuation.
func TestPrefillMatchesStepwiseArchs(t *testing.T) {
	for _, tm := range testModels(t) {
		t.Run(tm.name, func(t *testing.T) {
			m := tm.m
			p := prompt(m, min(100, m.SeqLen-12), 1)
			a, b := m.NewSequence(), m.NewSequence()
			batch := m.NewBatch(len(p))
			es := make([]Entry, len(p))
			for i, tok := range p {
				es[i] = Entry{Seq: a, Token: tok, WantLogits: true}
			}
			if err := batch.Step(es); err != nil {
				t.Fatal(err)
			}
			all := make([][]float32, len(es))
			for i := range es {
				all[i] = slices.Clone(es[i].Logits)
			}
			for i, tok := range p {
				one := []Entry{{Seq: b, Token: tok, WantLogits: true}}
				if err := batch.Step(one); err != nil {
					t.Fatal(err)
				}
				if tm.quantized {
					if !slices.Equal(all[i], one[0].Logits) {
						t.Fatalf("position %d: logits differ by %g", i, relDiff(all[i], one[0].Logits))
					}
				} else if d := relDiff(all[i], one[0].Logits); d > f32Tol(m) {
					t.Fatalf("position %d: logits differ by %g of their magnitude", i, d)
				}
				if x, y := sampler.Argmax(all[i]), sampler.Argmax(one[0].Logits); x != y {
					t.Fatalf("position %d: greedy token %d after the prompt step, %d token by token", i, x, y)
				}
			}
			// The greedy continuations of both.
			next := sampler.Argmax(all[len(p)-1])
			for k := range 10 {
				two := []Entry{{Seq: a, Token: next, WantLogits: true}}
				if err := batch.Step(two); err != nil {
					t.Fatal(err)
				}
				x := sampler.Argmax(two[0].Logits)
				one := []Entry{{Seq: b, Token: next, WantLogits: true}}
				if err := batch.Step(one); err != nil {
					t.Fatal(err)
				}
				if y := sampler.Argmax(one[0].Logits); x != y {
					t.Fatalf("continuation token %d: %d after the prompt step, %d after the stepwise prompt", k, x, y)
				}
				next = x
			}
		})
	}
}

// TestBatchedMatchesAlone runs eight sequences of different prompts
// together (all prompts in one step, then decode steps of all eight, one
// sequence leaving early) and each alone, on every architecture: the
// greedy tokens are exactly the same, and so are the logits with
// quantized weights.
func TestBatchedMatchesAlone(t *testing.T) {
	const streams, steps = 8, 12
	for _, tm := range testModels(t) {
		t.Run(tm.name, func(t *testing.T) {
			m := tm.m
			prompts := make([][]int, streams)
			for i := range prompts {
				prompts[i] = prompt(m, 3+5*i, i+2)
			}
			// Alone: the prompt in one step, then one token per step.
			type run struct {
				tokens []int
				logits [][]float32
			}
			alone := make([]run, streams)
			for i, p := range prompts {
				s := m.NewSequence()
				b := m.NewBatch(len(p))
				es := make([]Entry, len(p))
				for j, tok := range p {
					es[j] = Entry{Seq: s, Token: tok, WantLogits: j == len(p)-1}
				}
				for k := 0; k < steps; k++ {
					if err := b.Step(es); err != nil {
						t.Fatal(err)
					}
					l := es[len(es)-1].Logits
					tok := sampler.Argmax(l)
					alone[i].tokens = append(alone[i].tokens, tok)
					alone[i].logits = append(alone[i].logits, slices.Clone(l))
					es = append(es[:0], Entry{Seq: s, Token: tok, WantLogits: true})
				}
			}
			// Together.
			seqs := make([]*Sequence, streams)
			var es []Entry
			for i, p := range prompts {
				seqs[i] = m.NewSequence()
				for j, tok := range p {
					es = append(es, Entry{Seq: seqs[i], Token: tok, WantLogits: j == len(p)-1})
				}
			}
			b := m.NewBatch(len(es))
			got := make([]run, streams)
			for len(es) > 0 {
				if err := b.Step(es); err != nil {
					t.Fatal(err)
				}
				var next []Entry
				for _, e := range es {
					if !e.WantLogits {
						continue
					}
					i := slices.Index(seqs, e.Seq)
					tok := sampler.Argmax(e.Logits)
					got[i].tokens = append(got[i].tokens, tok)
					got[i].logits = append(got[i].logits, slices.Clone(e.Logits))
					// Sequence 3 leaves halfway, as a finished stream does.
					if n := len(got[i].tokens); n < steps && !(i == 3 && n == steps/2) {
						next = append(next, Entry{Seq: e.Seq, Token: tok, WantLogits: true})
					}
				}
				es = next
			}
			for i := range streams {
				n := len(got[i].tokens)
				if !slices.Equal(got[i].tokens, alone[i].tokens[:n]) {
					t.Errorf("sequence %d: batched %v\nalone %v", i, got[i].tokens, alone[i].tokens[:n])
				}
				for k := range n {
					what := fmt.Sprintf("sequence %d step %d", i, k)
					if tm.quantized && !slices.Equal(got[i].logits[k], alone[i].logits[k]) {
						t.Errorf("%s: logits differ by %g", what, relDiff(got[i].logits[k], alone[i].logits[k]))
					} else if d := relDiff(got[i].logits[k], alone[i].logits[k]); d > f32Tol(m) {
						t.Errorf("%s: logits differ by %g of their magnitude", what, d)
					}
				}
			}
		})
	}
}
