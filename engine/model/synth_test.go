package model

import (
	"bytes"
	"testing"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/synth"
)

// synthModel loads the spec's model from its GGUF bytes, limited to the
// spec's context.
func synthModel(t testing.TB, s synth.Spec) *Model {
	f, err := gguf.Parse(synthBytes(t, s, nil))
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromGGUF(f)
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	m.LimitContext(s.Limit)
	return m
}

// synthBytes writes the spec's GGUF into memory (edit as for synth.GGUF).
func synthBytes(t testing.TB, s synth.Spec, edit func(name string, dims []uint64) []uint64) []byte {
	w, err := synth.GGUF(s, edit)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
