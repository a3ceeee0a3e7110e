package llama2c

import (
	"fmt"
	"os"
	"unsafe"
)

// Checkpoint is an open checkpoint file. Its weights are views of a
// read-only memory map and are valid until Close.
type Checkpoint struct {
	Config
	Weights
	Path string
	data []byte
}

// Open maps a checkpoint file and slices its weights.
func Open(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var hdr [HeaderSize]byte
	n, _ := f.ReadAt(hdr[:], 0)
	cfg, err := ParseHeader(hdr[:n])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if want := cfg.FileSize(); st.Size() != want {
		what := "truncated"
		if st.Size() > want {
			what = "has trailing data"
		}
		return nil, fmt.Errorf("%s: llama2c: file %s: it is %d bytes, the header (dim %d, %d layers, vocab %d) needs exactly %d",
			path, what, st.Size(), cfg.Dim, cfg.Layers, cfg.VocabSize, want)
	}
	data, err := mapFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	// The header is 28 bytes and mappings are page-aligned, so the floats
	// are 4-byte aligned.
	floats := unsafe.Slice((*float32)(unsafe.Pointer(&data[HeaderSize])), (len(data)-HeaderSize)/4)
	w, err := cfg.Slice(floats)
	if err != nil {
		unmapFile(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Checkpoint{Config: cfg, Weights: w, Path: path, data: data}, nil
}

// Close unmaps the file. The weights must not be used afterwards.
func (c *Checkpoint) Close() error {
	if c.data == nil {
		return nil
	}
	err := unmapFile(c.data)
	c.data = nil
	c.Weights = Weights{}
	return err
}
