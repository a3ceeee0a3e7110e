package models

import "github.com/runnel/runnel/engine/gguf"

// describeGGUF fills in what a GGUF file's metadata says about the model.
// A file it cannot parse is still listed; loading it reports the problem.
func describeGGUF(m *Model) {
	f, err := gguf.Open(m.Path)
	if err != nil {
		return
	}
	defer f.Close()
	for _, t := range f.Tensors {
		m.Params += int64(t.Elems())
	}
	if arch, err := f.String("general.architecture"); err == nil {
		if n, err := f.Int64(arch + ".context_length"); err == nil {
			m.ContextLength = int(n)
		}
	}
}
