package models

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel/runnel/engine/synth"
)

// TestFindReadsGGUFOnce: resolving a GGUF model again reads its metadata
// again only when the file changed (the engine resolves every request's
// model, and a large vocabulary takes tens of milliseconds to parse); a
// changed file is described anew.
func TestFindReadsGGUFOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.gguf")
	write := func(dim int) {
		shape := synth.Shape{Name: "m", Dim: dim, Hidden: 2 * dim, Layers: 1, Heads: 2, KVs: 2, Vocab: 300, RopeBase: 10000}
		if _, err := synth.WriteGGUF(p, shape, "q8_0", 5); err != nil {
			t.Fatal(err)
		}
	}
	write(64)
	first, err := Find(dir, "m")
	if err != nil || first.Params == 0 {
		t.Fatalf("Find = %+v, %v", first, err)
	}
	reads := ggufReads.Load()
	for range 3 {
		m, err := Find(dir, "m")
		if err != nil || m.Params != first.Params || m.ContextLength != first.ContextLength {
			t.Fatalf("Find again = %+v, %v; first %+v", m, err, first)
		}
	}
	if n := ggufReads.Load() - reads; n != 0 {
		t.Fatalf("three more Finds of an unchanged file read it %d times", n)
	}
	// Another shape: another size and modification time.
	write(128)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	m, err := Find(dir, "m")
	if err != nil || m.Params <= first.Params {
		t.Fatalf("Find after the file changed = %+v, %v; before %+v", m, err, first)
	}
	if n := ggufReads.Load() - reads; n != 1 {
		t.Fatalf("the changed file was read %d times", n)
	}
}
