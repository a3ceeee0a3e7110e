// Package ggml names the tensor element types of the GGML family of formats
// (GGUF) and their block layout, shared by the GGUF reader and the kernels.
package ggml

import "fmt"

// Type is a tensor element type, numbered as in GGUF files.
type Type uint32

const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q8_1 Type = 9
	Q2_K Type = 10
	Q3_K Type = 11
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	Q8_K Type = 15
	// The i-quants (importance-matrix quantizations) and the integer,
	// f64 and ternary types: their layouts are known so a file holding
	// them opens, and anything that cannot compute with them names them.
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
)

type layout struct {
	name       string
	blockElems int // elements per block
	blockBytes int // bytes per block
}

var layouts = map[Type]layout{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	BF16: {"BF16", 1, 2},
	Q4_0: {"Q4_0", 32, 2 + 16},
	Q4_1: {"Q4_1", 32, 2 + 2 + 16},
	Q5_0: {"Q5_0", 32, 2 + 4 + 16},
	Q5_1: {"Q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0: {"Q8_0", 32, 2 + 32},
	Q8_1: {"Q8_1", 32, 4 + 4 + 32},
	Q2_K: {"Q2_K", 256, 256/16 + 256/4 + 2 + 2},
	Q3_K: {"Q3_K", 256, 256/8 + 256/4 + 12 + 2},
	Q4_K: {"Q4_K", 256, 2 + 2 + 12 + 256/2},
	Q5_K: {"Q5_K", 256, 2 + 2 + 12 + 256/8 + 256/2},
	Q6_K: {"Q6_K", 256, 256/2 + 256/4 + 256/16 + 2},
	Q8_K: {"Q8_K", 256, 4 + 256 + 256/16*2},

	IQ2_XXS: {"IQ2_XXS", 256, 2 + 256/8*2},
	IQ2_XS:  {"IQ2_XS", 256, 2 + 256/8*2 + 256/32},
	IQ3_XXS: {"IQ3_XXS", 256, 2 + 3*256/8},
	IQ1_S:   {"IQ1_S", 256, 2 + 256/8 + 256/16},
	IQ4_NL:  {"IQ4_NL", 32, 2 + 16},
	IQ3_S:   {"IQ3_S", 256, 2 + 13*256/32 + 256/64},
	IQ2_S:   {"IQ2_S", 256, 2 + 256/4 + 256/16},
	IQ4_XS:  {"IQ4_XS", 256, 2 + 2 + 256/64 + 256/2},
	I8:      {"I8", 1, 1},
	I16:     {"I16", 1, 2},
	I32:     {"I32", 1, 4},
	I64:     {"I64", 1, 8},
	F64:     {"F64", 1, 8},
	IQ1_M:   {"IQ1_M", 256, 256/8 + 256/16 + 256/32},
	TQ1_0:   {"TQ1_0", 256, 2 + 256/64 + (256-4*256/64)/5},
	TQ2_0:   {"TQ2_0", 256, 2 + 256/4},
}

func (t Type) String() string {
	if l, ok := layouts[t]; ok {
		return l.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Known reports whether t is a type whose layout this package knows.
func (t Type) Known() bool { _, ok := layouts[t]; return ok }

// BlockSize returns the number of elements per block and the bytes per block.
func (t Type) BlockSize() (elems, bytes int) {
	l := layouts[t]
	return l.blockElems, l.blockBytes
}

// RowBytes returns the size in bytes of n elements of type t. n must be a
// multiple of the block size.
func RowBytes(t Type, n int) (int, error) {
	l, ok := layouts[t]
	if !ok {
		return 0, fmt.Errorf("ggml: unknown tensor type %d", uint32(t))
	}
	if n < 0 || n%l.blockElems != 0 {
		return 0, fmt.Errorf("ggml: %d elements of %s is not a whole number of %d-element blocks", n, l.name, l.blockElems)
	}
	return n / l.blockElems * l.blockBytes, nil
}
