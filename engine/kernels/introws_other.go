//go:build !amd64

package kernels

import "github.com/runnel/runnel/engine/ggml"

func rowPairs() bool { return false }

func dotRowPairs(t ggml.Type, rows []byte, rowBytes, nrows int, d []float32, qs []int8, c16 []int32, dst []float32) int {
	return 0
}

// SetRowPairs does nothing here: there are no two-row kernels.
func SetRowPairs(on bool) bool { return false }

// SetVNNI does nothing here: there are no VNNI kernels.
func SetVNNI(on bool) bool { return false }
