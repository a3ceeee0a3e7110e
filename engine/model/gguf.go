package model

import (
	"fmt"
	"unsafe"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/kernels"
)

// OpenGGUF maps a GGUF file and builds a Model over its tensors. The
// returned File carries the tokenizer metadata; the Model owns it, so
// closing the Model closes the File.
func OpenGGUF(path string) (*Model, *gguf.File, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, f, nil
}

// vector returns a 1-D tensor as float32s: a view for aligned F32 data,
// else a dequantized copy (norm weights are small).
func vector(t gguf.Tensor) ([]float32, error) {
	n := int(t.Dims[0])
	if t.Type == ggml.F32 && len(t.Data) == 4*n && n > 0 && uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	out := make([]float32, n)
	if err := kernels.Dequantize(out, t.Type, t.Data); err != nil {
		return nil, err
	}
	return out, nil
}
