package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/runnel/runnel/engine/ggml"
)

// Writer builds a GGUF v3 file: add metadata and tensors, then WriteTo.
// Tensor data is held by reference until WriteTo, not copied.
type Writer struct {
	Alignment uint64 // 0 means DefaultAlignment (or general.alignment, if set)

	kv      []KV
	keys    map[string]bool
	tensors []Tensor
	names   map[string]bool
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}}
}

// Add adds a metadata entry; x is any type ValueOf accepts.
func (w *Writer) Add(key string, x any) error {
	v, err := ValueOf(x)
	if err != nil {
		return fmt.Errorf("gguf: metadata %q: %w", key, err)
	}
	if w.keys[key] {
		return fmt.Errorf("gguf: duplicate metadata key %q", key)
	}
	if key == "general.alignment" {
		a, ok := v.asInt64()
		if !ok || v.Type != TypeUint32 || a <= 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: general.alignment must be a uint32 power of two, have %v", x)
		}
		w.Alignment = uint64(a)
	}
	w.keys[key] = true
	w.kv = append(w.kv, KV{key, v})
	return nil
}

// AddTensor adds a tensor. dims[0] is the innermost dimension; data must
// hold exactly the bytes of that many elements of typ.
func (w *Writer) AddTensor(name string, typ ggml.Type, dims []uint64, data []byte) error {
	if w.names[name] {
		return fmt.Errorf("gguf: duplicate tensor %q", name)
	}
	if len(dims) == 0 || len(dims) > MaxDims {
		return fmt.Errorf("gguf: tensor %q: %d dimensions (want 1 to %d)", name, len(dims), MaxDims)
	}
	if !typ.Known() {
		return fmt.Errorf("gguf: tensor %q: unknown tensor type %d", name, uint32(typ))
	}
	elems := uint64(1)
	for _, d := range dims {
		elems *= d
	}
	be, bb := typ.BlockSize()
	if dims[0]%uint64(be) != 0 {
		return fmt.Errorf("gguf: tensor %q: row of %d elements is not a whole number of %d-element %s blocks", name, dims[0], be, typ)
	}
	if want := elems / uint64(be) * uint64(bb); uint64(len(data)) != want {
		return fmt.Errorf("gguf: tensor %q: %d bytes of data, want %d for %v %s", name, len(data), want, dims, typ)
	}
	w.names[name] = true
	w.tensors = append(w.tensors, Tensor{Name: name, Type: typ, Dims: append([]uint64(nil), dims...), Data: data})
	return nil
}

// WriteTo writes the file.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align := w.Alignment
	if align == 0 {
		align = DefaultAlignment
	}
	cw := &countWriter{w: out}
	bw := bufio.NewWriterSize(cw, 1<<16)
	e := &encoder{w: bw}
	e.bytes([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kv)))
	for _, kv := range w.kv {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value.Data)
	}
	off := uint64(0)
	for _, t := range w.tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(off)
		off = alignUp(off+uint64(len(t.Data)), align)
	}
	e.pad(align)
	for _, t := range w.tensors {
		e.bytes(t.Data)
		e.pad(align)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		return cw.n, fmt.Errorf("gguf: write: %w", e.err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type encoder struct {
	w   *bufio.Writer
	n   uint64
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	_, e.err = e.w.Write(b)
	e.n += uint64(len(b))
}

func (e *encoder) u8(v uint8) { e.buf[0] = v; e.bytes(e.buf[:1]) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.bytes(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.bytes(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.bytes(e.buf[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
		e.n += uint64(len(s))
	}
}

func (e *encoder) pad(align uint64) {
	var zero [64]byte
	for n := alignUp(e.n, align) - e.n; n > 0; {
		k := min(n, uint64(len(zero)))
		e.bytes(zero[:k])
		n -= k
	}
}

func (e *encoder) value(x any) {
	switch x := x.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case string:
		e.str(x)
	case Array:
		elem, _ := arrayElem(x.Data) // checked by ValueOf
		e.u32(uint32(elem))
		e.u64(uint64(x.Len()))
		switch d := x.Data.(type) {
		case []uint8:
			e.bytes(d)
		case []int8:
			encodeAll(e, d)
		case []bool:
			encodeAll(e, d)
		case []uint16:
			encodeAll(e, d)
		case []int16:
			encodeAll(e, d)
		case []uint32:
			encodeAll(e, d)
		case []int32:
			encodeAll(e, d)
		case []float32:
			encodeAll(e, d)
		case []uint64:
			encodeAll(e, d)
		case []int64:
			encodeAll(e, d)
		case []float64:
			encodeAll(e, d)
		case []string:
			encodeAll(e, d)
		case []Array:
			encodeAll(e, d)
		}
	}
}

func encodeAll[T any](e *encoder, s []T) {
	for _, v := range s {
		e.value(v)
	}
}
