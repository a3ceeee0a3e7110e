//go:build unix

package gguf

import (
	"os"
	"syscall"
)

// mapFile maps fd read-only and shared, so weights live in the page cache
// and concurrent users of one file share one copy.
func mapFile(fd *os.File, size int) ([]byte, func() error, error) {
	b, err := syscall.Mmap(int(fd.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
