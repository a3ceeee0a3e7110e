package model

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/engine/synth"
)

// TestHandoffsPerStep counts the pool jobs of one decode step on the 15M
// shape (Q8_0), of one sequence and of eight, where every product and,
// past its first positions, attention are large enough for the pool: per
// layer one job for the queries, keys and values, one for attention, one
// for the output projection, one for gate, up and SiLU, one for the down
// projection; and one for the classifier. Each is a wait for the pool's
// helpers, a fixed cost of the step; eight sequences take no more than
// one (attention's units of all of them share one job: no hand-off per
// sequence).
func TestHandoffsPerStep(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core: no pool")
	}
	p := filepath.Join(t.TempDir(), "m.gguf")
	if _, err := synth.WriteGGUF(p, synth.Shapes[0], "q8_0", 15); err != nil {
		t.Fatal(err)
	}
	m, _, err := OpenGGUF(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, n := range []int{1, 8} {
		b := m.NewBatch(n)
		seqs := make([]*Sequence, n)
		for i := range seqs {
			seqs[i] = m.NewSequence()
		}
		es := make([]Entry, n)
		step := func(tok int) {
			for i := range es {
				es[i] = Entry{Seq: seqs[i], Token: tok + i, WantLogits: true}
			}
			if err := b.Step(es); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			step(i + 1)
		}
		before := kernels.Handoffs()
		step(11)
		if got, want := kernels.Handoffs()-before, int64(5*len(m.blocks)+1); got != want {
			t.Errorf("a decode step of %d sequences handed %d jobs to the pool, want %d (5 a layer and the classifier)", n, got, want)
		}
	}
}
