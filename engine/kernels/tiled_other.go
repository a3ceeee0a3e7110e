//go:build !amd64

package kernels

import "github.com/runnel/runnel/engine/ggml"

func hasX4(t ggml.Type) bool { return false }

func dotX4RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, c16, c32, c128 []int32, nb, cols int, dst []float32, dstStride int) {
	panic("kernels: no four-vector kernels")
}

func hasX8(t ggml.Type) bool { return false }

func dotX8RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, u8 []uint8, c16, c32, c128 []int32, nb, cols int, dst []float32, dstStride int) {
	panic("kernels: no eight-vector kernels")
}

func dotKX4RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, bs []int16, nsb, cols int, dst []float32, dstStride int) {
	panic("kernels: no four-vector kernels")
}

func dotKX8RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, bs []int16, nsb, cols int, dst []float32, dstStride int) {
	panic("kernels: no eight-vector kernels")
}

func (v *qvec) x4corr() {}

// SetQ4KEightVectorTile does nothing here: there are no eight-vector tiles.
func SetQ4KEightVectorTile(on bool) bool { return false }

// SetQ6KVNNITile has no tile to switch here.
func SetQ6KVNNITile(on bool) bool { return false }

// SetQ80UnsignedTile has no tile to switch here.
func SetQ80UnsignedTile(on bool) bool { return false }
