package gguf

import (
	"fmt"
	"os"
)

// Open maps the named GGUF file into memory and parses it. Tensor data
// returned by Tensor stays valid until Close.
func Open(path string) (*File, error) { return open(path, true) }

// OpenMetadata is Open without the tensor infos: the file has no tensors,
// and tensor types the engine does not know are no error.
func OpenMetadata(path string) (*File, error) { return open(path, false) }

func open(path string, tensors bool) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("gguf: %s is not a regular file", path)
	}
	if st.Size() < 4 {
		return nil, fmt.Errorf("gguf: %s: file too short for a GGUF header (%d bytes)", path, st.Size())
	}
	if int64(int(st.Size())) != st.Size() {
		return nil, fmt.Errorf("gguf: %s: file too large to map", path)
	}
	data, unmap, err := mapFile(fd, int(st.Size()))
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f, err := decode(data, tensors)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f.unmap = unmap
	return f, nil
}
