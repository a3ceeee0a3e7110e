package model

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/engine/synth"
)

// TestHandoffsPerStep counts the pool jobs of one decode step of one
// sequence on the 15M shape (Q8_0), where every product and, past its
// first positions, attention are large enough for the pool: per layer one
// job for the queries, keys and values, one for attention, one for the
// output projection, one for gate, up and SiLU, one for the down
// projection; and one for the classifier. Each is a wait for the pool's
// helpers, a fixed cost of the step.
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
	b, s := m.NewBatch(1), m.NewSequence()
	step := func(tok int) {
		if err := b.Step([]Entry{{Seq: s, Token: tok, WantLogits: true}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		step(i + 1)
	}
	before := kernels.Handoffs()
	step(11)
	if got, want := kernels.Handoffs()-before, int64(5*len(m.blocks)+1); got != want {
		t.Fatalf("a decode step handed %d jobs to the pool, want %d (5 a layer and the classifier)", got, want)
	}
}
