package model

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/runnel/runnel/engine/llama2c"
	"github.com/runnel/runnel/engine/sampler"
	"github.com/runnel/runnel/internal/testmodels"
)

func openStories(t testing.TB) *Model {
	m, err := OpenLlama2C(testmodels.Path(t, "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// greedy prefills prompt in one step and decodes n tokens one at a time.
func greedy(t testing.TB, m *Model, prompt []int, n int) []int {
	s := m.NewSequence()
	b := m.NewBatch(len(prompt))
	es := make([]Entry, len(prompt))
	for i, tok := range prompt {
		es[i] = Entry{Seq: s, Token: tok}
	}
	es[len(es)-1].WantLogits = true
	if err := b.Step(es); err != nil {
		t.Fatal(err)
	}
	var out []int
	for {
		next := sampler.Argmax(es[len(es)-1].Logits)
		out = append(out, next)
		if len(out) == n {
			return out
		}
		es = es[:1]
		es[0] = Entry{Seq: s, Token: next, WantLogits: true}
		if err := b.Step(es); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGreedyMatchesRunC checks the forward pass against the token ids
// llama2.c's run.c produces at temperature 0.
func TestGreedyMatchesRunC(t *testing.T) {
	m := openStories(t)
	got := greedy(t, m, testmodels.GreedyPromptIDs, len(testmodels.GreedyIDs))
	if !slices.Equal(got, testmodels.GreedyIDs) {
		for i := range got {
			if got[i] != testmodels.GreedyIDs[i] {
				t.Fatalf("token %d = %d, run.c has %d\ngot  %v\nwant %v", i, got[i], testmodels.GreedyIDs[i], got, testmodels.GreedyIDs)
			}
		}
	}
	if m.Dim != 64 || m.Format != "llama2c" {
		t.Fatalf("model %+v", m.Config)
	}
}

// TestPrefillMatchesStepwise checks that a prompt processed in one step
// gives the same logits as processing it token by token.
func TestPrefillMatchesStepwise(t *testing.T) {
	m := openStories(t)
	prompt := testmodels.GreedyPromptIDs
	a, b := m.NewSequence(), m.NewSequence()
	batch := m.NewBatch(len(prompt))
	es := make([]Entry, len(prompt))
	for i, tok := range prompt {
		es[i] = Entry{Seq: a, Token: tok, WantLogits: true}
	}
	if err := batch.Step(es); err != nil {
		t.Fatal(err)
	}
	all := make([][]float32, len(es))
	for i := range es {
		all[i] = slices.Clone(es[i].Logits)
	}
	for i, tok := range prompt {
		one := []Entry{{Seq: b, Token: tok, WantLogits: true}}
		if err := batch.Step(one); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(all[i], one[0].Logits); d > 1e-4 {
			t.Fatalf("position %d: logits differ by %g", i, d)
		}
	}
	if a.Pos() != len(prompt) || b.Pos() != len(prompt) {
		t.Fatalf("positions %d, %d", a.Pos(), b.Pos())
	}
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestBatchedDecode interleaves three sequences that start at different
// times in shared steps and checks each against its solo greedy run.
func TestBatchedDecode(t *testing.T) {
	m := openStories(t)
	prompts := [][]int{testmodels.GreedyPromptIDs, {1, 403}, {1, 300, 301, 302, 303, 304, 305}}
	const n = 40
	want := make([][]int, len(prompts))
	for i, p := range prompts {
		want[i] = greedy(t, m, p, n)
	}
	type seq struct {
		s       *Sequence
		pending []int
		out     []int
		start   int
	}
	seqs := []*seq{{start: 0}, {start: 3}, {start: 7}}
	for i := range seqs {
		seqs[i].s = m.NewSequence()
		seqs[i].pending = prompts[i]
	}
	b := m.NewBatch(16)
	var es []Entry
	for step := 0; ; step++ {
		es = es[:0]
		owners := []int{}
		for i, q := range seqs {
			if step < q.start || len(q.out) == n {
				continue
			}
			// Prefill in chunks of up to 3 tokens to mix prefill with decode.
			take := min(3, len(q.pending))
			for j := 0; j < take; j++ {
				es = append(es, Entry{Seq: q.s, Token: q.pending[j], WantLogits: j == take-1})
				owners = append(owners, i)
			}
			q.pending = q.pending[take:]
		}
		if len(es) == 0 {
			break
		}
		if err := b.Step(es); err != nil {
			t.Fatal(err)
		}
		for k, e := range es {
			if e.WantLogits {
				q := seqs[owners[k]]
				if len(q.pending) == 0 {
					tok := sampler.Argmax(e.Logits)
					q.out = append(q.out, tok)
					q.pending = []int{tok}
				}
			}
		}
	}
	for i, q := range seqs {
		if !slices.Equal(q.out, want[i]) {
			t.Errorf("sequence %d batched %v\nsolo %v", i, q.out, want[i])
		}
	}
}

func TestStepErrors(t *testing.T) {
	m := openStories(t)
	s := m.NewSequence()
	b := m.NewBatch(2)
	if err := b.Step([]Entry{{Seq: s, Token: 512}}); err == nil {
		t.Fatal("token out of range accepted")
	}
	if err := b.Step(make([]Entry, 3)); err == nil {
		t.Fatal("over capacity accepted")
	}
	other := openStories(t)
	if err := b.Step([]Entry{{Seq: other.NewSequence(), Token: 1}}); err == nil {
		t.Fatal("sequence of another model accepted")
	}
	for i := 0; i < m.SeqLen; i++ {
		if err := b.Step([]Entry{{Seq: s, Token: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Step([]Entry{{Seq: s, Token: 1}}); err == nil {
		t.Fatal("step past the context length accepted")
	}
}

// TestSeparateClassifier: a checkpoint with its own classifier (negative
// vocab_size) uses it; with a copy of the embedding table it must give the
// logits of the shared-classifier checkpoint, and with other values it
// must not.
func TestSeparateClassifier(t *testing.T) {
	c := llama2c.Config{Dim: 16, HiddenDim: 24, Layers: 2, Heads: 4, KVHeads: 2, VocabSize: 20, SeqLen: 8, SharedClassifier: true}
	r := rand.New(rand.NewPCG(3, 4))
	w := llama2c.Random(c, func() float32 { return r.Float32() - 0.5 })
	logits := func(c llama2c.Config, w llama2c.Weights) []float32 {
		p := filepath.Join(t.TempDir(), "m.bin")
		f, _ := os.Create(p)
		if err := llama2c.Write(f, c, w); err != nil {
			t.Fatal(err)
		}
		f.Close()
		m, err := OpenLlama2C(p)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		es := []Entry{{Seq: m.NewSequence(), Token: 3}, {Token: 7, WantLogits: true}}
		es[1].Seq = es[0].Seq
		if err := m.NewBatch(2).Step(es); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(es[1].Logits)
	}
	shared := logits(c, w)
	c.SharedClassifier = false
	w.Classifier = slices.Clone(w.TokenEmbedding)
	if d := maxDiff(shared, logits(c, w)); d != 0 {
		t.Fatalf("separate copy of the embedding: logits differ by %g", d)
	}
	for i := range w.Classifier {
		w.Classifier[i] = -w.Classifier[i]
	}
	other := logits(c, w)
	for i := range other {
		if other[i] != -shared[i] {
			t.Fatalf("negated classifier: logit %d = %g, want %g", i, other[i], -shared[i])
		}
	}
}
