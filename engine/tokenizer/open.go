package tokenizer

import (
	"fmt"
	"io"
	"os"

	"github.com/runnel/runnel/engine/gguf"
)

// Open loads a tokenizer from a GGUF file (its tokenizer.ggml.* metadata)
// or from a llama2.c tokenizer.bin, telling them apart by the GGUF magic.
func Open(path string) (Tokenizer, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	magic := make([]byte, len(gguf.Magic))
	_, err = io.ReadFull(fd, magic)
	fd.Close()
	if err == nil && string(magic) == gguf.Magic {
		f, err := gguf.OpenMetadata(path) // mapped: only the metadata is read
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		defer f.Close()
		t, err := FromGGUF(f)
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, path)
		}
		return t, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := ParseLlama2c(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return t, nil
}
