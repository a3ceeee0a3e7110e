//go:build !amd64

package kernels

import "github.com/runnel/runnel/engine/ggml"

func hasX4(t ggml.Type) bool { return false }

func dotX4RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, xq *qvec, v, s, cols int, dst []float32, dstStride int) {
	panic("kernels: no four-vector kernels")
}

func hasX8(t ggml.Type) bool { return false }

func dotX8RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, xq *qvec, v, cols int, dst []float32, dstStride int) {
	panic("kernels: no eight-vector kernels")
}

func dotKX4RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, bs []int16, nsb, cols int, dst []float32, dstStride int) {
	panic("kernels: no four-vector kernels")
}

func dotKX8RowsArch(t ggml.Type, rows []byte, rowBytes, nrows int, d4 []float32, qs []int8, bs []int16, nsb, cols int, dst []float32, dstStride int) {
	panic("kernels: no eight-vector kernels")
}

func tileForms(t ggml.Type, cols int) tileForm { return 0 }

func (v *qvec) makeForms(need tileForm) {}

// SetQ4KEightVectorTile does nothing here: there are no eight-vector tiles.
func SetQ4KEightVectorTile(on bool) bool { return false }

// SetQ6KVNNITile has no tile to switch here.
func SetQ6KVNNITile(on bool) bool { return false }

// SetUnsignedTiles has no tiles to switch here.
func SetUnsignedTiles(on bool) bool { return false }
