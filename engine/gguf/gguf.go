// Package gguf reads and writes GGUF files, the model format of llama.cpp:
// typed metadata followed by aligned tensor data. Open maps the file into
// memory so tensor data is viewed in place, never copied onto the heap.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/runnel/runnel/engine/ggml"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// Version is the format version the Writer produces. Parse reads 2 and 3,
// which share the little-endian layout.
const Version = 3

// DefaultAlignment applies when general.alignment is absent.
const DefaultAlignment = 32

// MaxDims is the most dimensions a tensor may have (GGML_MAX_DIMS).
const MaxDims = 4

// maxNesting bounds nested arrays so a hostile file cannot recurse deeply.
const maxNesting = 8

// ErrNotFound is returned (wrapped) for a metadata key or tensor the file
// does not have.
var ErrNotFound = errors.New("not found")

// TensorInfo describes one tensor: Dims[0] is the innermost (contiguous)
// dimension, as in ggml; Offset is relative to the data section.
type TensorInfo struct {
	Name   string
	Type   ggml.Type
	Dims   []uint64
	Offset uint64
	Size   uint64 // bytes
}

// Elems returns the number of elements.
func (t TensorInfo) Elems() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Tensor is a tensor with its bytes. For a File from Open, Data is a view of
// the mapped file: valid until Close, and read-only.
type Tensor struct {
	Name string
	Type ggml.Type
	Dims []uint64
	Data []byte
}

// KV is one metadata entry.
type KV struct {
	Key   string
	Value Value
}

// File is a parsed GGUF file.
type File struct {
	Version    uint32
	Alignment  uint64
	DataOffset uint64 // absolute offset of the tensor data section
	KV         []KV   // in file order
	Tensors    []TensorInfo

	data    []byte // the whole file
	kv      map[string]int
	tensors map[string]int
	unmap   func() error
}

// Parse reads a GGUF file held in memory. Tensor data views alias data.
func Parse(data []byte) (*File, error) {
	f, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	return f, nil
}

func parse(data []byte) (*File, error) { return decode(data, true) }

// decode parses the header and metadata of a GGUF file, and its tensor
// infos if tensors is set: without them a file whose tensor types are
// unknown still yields its metadata (its vocabulary, its chat template).
func decode(data []byte, tensors bool) (*File, error) {
	d := &decoder{b: data}
	if len(data) < 4 || string(data[:4]) != Magic {
		if len(data) < 4 {
			return nil, errors.New("file too short for a GGUF header")
		}
		return nil, fmt.Errorf("bad magic %q: not a GGUF file", data[:4])
	}
	d.off = 4
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	switch version {
	case 2, 3:
	case 1:
		return nil, errors.New("unsupported version 1 (only GGUF v2 and v3 are read)")
	default:
		if bits.ReverseBytes32(version) <= 3 {
			return nil, fmt.Errorf("unsupported big-endian GGUF (version field %#x)", version)
		}
		return nil, fmt.Errorf("unsupported version %d", version)
	}
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	// Every KV takes at least 8+4+1 bytes, every tensor info 8+4+8+4+8.
	if nKV > uint64(d.left())/13 {
		return nil, fmt.Errorf("metadata count %d is impossible for a %d-byte file", nKV, len(data))
	}
	if nTensors > uint64(d.left())/32 {
		return nil, fmt.Errorf("tensor count %d is impossible for a %d-byte file", nTensors, len(data))
	}
	f := &File{
		Version:   version,
		Alignment: DefaultAlignment,
		data:      data,
		KV:        make([]KV, 0, nKV),
		kv:        make(map[string]int, nKV),
		Tensors:   make([]TensorInfo, 0, nTensors),
		tensors:   make(map[string]int, nTensors),
	}
	for i := uint64(0); i < nKV; i++ {
		key, err := d.str("metadata key")
		if err != nil {
			return nil, fmt.Errorf("metadata entry %d: %w", i, err)
		}
		t, err := d.u32("value type")
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", key, err)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", key, err)
		}
		if _, dup := f.kv[key]; dup {
			return nil, fmt.Errorf("duplicate metadata key %q", key)
		}
		f.kv[key] = len(f.KV)
		f.KV = append(f.KV, KV{key, v})
	}
	if i, ok := f.kv["general.alignment"]; ok {
		a, ok := f.KV[i].Value.asInt64()
		if !ok || a <= 0 || a&(a-1) != 0 || a > 1<<30 {
			return nil, fmt.Errorf("general.alignment %v is not a positive power of two", f.KV[i].Value.Data)
		}
		f.Alignment = uint64(a)
	}
	if !tensors {
		return f, nil
	}
	for i := uint64(0); i < nTensors; i++ {
		t, err := d.tensorInfo()
		if err != nil {
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
		if _, dup := f.tensors[t.Name]; dup {
			return nil, fmt.Errorf("duplicate tensor %q", t.Name)
		}
		f.tensors[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	f.DataOffset = alignUp(uint64(d.off), f.Alignment)
	if nTensors > 0 && f.DataOffset > uint64(len(data)) {
		return nil, fmt.Errorf("data section at %d is past the end of the %d-byte file (truncated?)", f.DataOffset, len(data))
	}
	avail := uint64(0)
	if f.DataOffset < uint64(len(data)) {
		avail = uint64(len(data)) - f.DataOffset
	}
	for _, t := range f.Tensors {
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("tensor %q: offset %d is not a multiple of the alignment %d", t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > avail || t.Size > avail-t.Offset {
			return nil, fmt.Errorf("tensor %q: data [%d, +%d) is out of range of the %d-byte data section (truncated file?)", t.Name, t.Offset, t.Size, avail)
		}
	}
	return f, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// Close releases the file mapping; tensor data views are invalid after it.
// Close is safe to call more than once.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	u := f.unmap
	f.unmap, f.data = nil, nil
	return u()
}

// Tensor returns the named tensor with a view of its data.
func (f *File) Tensor(name string) (Tensor, error) {
	i, ok := f.tensors[name]
	if !ok {
		return Tensor{}, fmt.Errorf("gguf: tensor %q: %w", name, ErrNotFound)
	}
	if f.data == nil {
		return Tensor{}, errors.New("gguf: file is closed")
	}
	t := f.Tensors[i]
	start := f.DataOffset + t.Offset
	return Tensor{Name: t.Name, Type: t.Type, Dims: t.Dims, Data: f.data[start : start+t.Size : start+t.Size]}, nil
}

// decoder reads little-endian values from b, checking every bound.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) need(n int, what string) error {
	if n < 0 || d.left() < n {
		return fmt.Errorf("truncated file: %s needs %d bytes at offset %d, %d left", what, n, d.off, d.left())
	}
	return nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

func (d *decoder) u64(what string) (uint64, error) {
	if err := d.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v, nil
}

func (d *decoder) str(what string) (string, error) {
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(d.left()) {
		return "", fmt.Errorf("truncated file: %s of %d bytes at offset %d, %d left", what, n, d.off, d.left())
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s, nil
}

func (d *decoder) value(t ValueType, depth int) (Value, error) {
	if t == TypeString {
		s, err := d.str("string")
		return Value{t, s}, err
	}
	if t == TypeArray {
		a, err := d.array(depth)
		return Value{t, a}, err
	}
	size := t.size()
	if size == 0 {
		return Value{}, fmt.Errorf("unknown value type %d", uint32(t))
	}
	if err := d.need(size, t.String()); err != nil {
		return Value{}, err
	}
	b := d.b[d.off:]
	d.off += size
	var x any
	switch t {
	case TypeUint8:
		x = b[0]
	case TypeInt8:
		x = int8(b[0])
	case TypeBool:
		if b[0] > 1 {
			return Value{}, fmt.Errorf("bool value %d is neither 0 nor 1", b[0])
		}
		x = b[0] == 1
	case TypeUint16:
		x = binary.LittleEndian.Uint16(b)
	case TypeInt16:
		x = int16(binary.LittleEndian.Uint16(b))
	case TypeUint32:
		x = binary.LittleEndian.Uint32(b)
	case TypeInt32:
		x = int32(binary.LittleEndian.Uint32(b))
	case TypeFloat32:
		x = math.Float32frombits(binary.LittleEndian.Uint32(b))
	case TypeUint64:
		x = binary.LittleEndian.Uint64(b)
	case TypeInt64:
		x = int64(binary.LittleEndian.Uint64(b))
	case TypeFloat64:
		x = math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return Value{t, x}, nil
}

func (d *decoder) array(depth int) (Array, error) {
	if depth >= maxNesting {
		return Array{}, fmt.Errorf("arrays nested more than %d deep", maxNesting)
	}
	et, err := d.u32("array element type")
	if err != nil {
		return Array{}, err
	}
	elem := ValueType(et)
	n64, err := d.u64("array length")
	if err != nil {
		return Array{}, err
	}
	min := elem.minSize()
	if min == 0 {
		return Array{}, fmt.Errorf("unknown array element type %d", et)
	}
	if n64 > uint64(d.left()/min) {
		return Array{}, fmt.Errorf("array of %d %s is longer than the %d bytes left in the file", n64, elem, d.left())
	}
	n := int(n64)
	le := binary.LittleEndian
	if size := elem.size(); size > 0 {
		b := d.b[d.off : d.off+n*size]
		d.off += n * size
		var x any
		switch elem {
		case TypeUint8:
			x = append([]uint8(nil), b...)
		case TypeInt8:
			x = decodeAll(b, 1, func(b []byte) int8 { return int8(b[0]) })
		case TypeBool:
			for _, c := range b {
				if c > 1 {
					return Array{}, fmt.Errorf("bool value %d is neither 0 nor 1", c)
				}
			}
			x = decodeAll(b, 1, func(b []byte) bool { return b[0] == 1 })
		case TypeUint16:
			x = decodeAll(b, 2, le.Uint16)
		case TypeInt16:
			x = decodeAll(b, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
		case TypeUint32:
			x = decodeAll(b, 4, le.Uint32)
		case TypeInt32:
			x = decodeAll(b, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
		case TypeFloat32:
			x = decodeAll(b, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
		case TypeUint64:
			x = decodeAll(b, 8, le.Uint64)
		case TypeInt64:
			x = decodeAll(b, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
		case TypeFloat64:
			x = decodeAll(b, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
		}
		return Array{elem, x}, nil
	}
	if elem == TypeString {
		s := make([]string, n)
		for i := range s {
			if s[i], err = d.str("string"); err != nil {
				return Array{}, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return Array{elem, s}, nil
	}
	s := make([]Array, n)
	for i := range s {
		if s[i], err = d.array(depth + 1); err != nil {
			return Array{}, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return Array{elem, s}, nil
}

// decodeAll decodes b as consecutive size-byte elements.
func decodeAll[T any](b []byte, size int, dec func([]byte) T) []T {
	s := make([]T, len(b)/size)
	for i := range s {
		s[i] = dec(b[i*size:])
	}
	return s
}

func (d *decoder) tensorInfo() (TensorInfo, error) {
	name, err := d.str("tensor name")
	if err != nil {
		return TensorInfo{}, err
	}
	fail := func(err error) (TensorInfo, error) { return TensorInfo{}, fmt.Errorf("%q: %w", name, err) }
	nd, err := d.u32("dimension count")
	if err != nil {
		return fail(err)
	}
	if nd == 0 || nd > MaxDims {
		return fail(fmt.Errorf("%d dimensions (want 1 to %d)", nd, MaxDims))
	}
	dims := make([]uint64, nd)
	elems := uint64(1)
	for i := range dims {
		if dims[i], err = d.u64("dimension"); err != nil {
			return fail(err)
		}
		hi, lo := bits.Mul64(elems, dims[i])
		if hi != 0 || lo > 1<<60 {
			return fail(fmt.Errorf("dimensions %v overflow", dims[:i+1]))
		}
		elems = lo
	}
	tt, err := d.u32("tensor type")
	if err != nil {
		return fail(err)
	}
	typ := ggml.Type(tt)
	if !typ.Known() {
		return fail(fmt.Errorf("unknown tensor type %d", tt))
	}
	off, err := d.u64("tensor offset")
	if err != nil {
		return fail(err)
	}
	be, bb := typ.BlockSize()
	if dims[0]%uint64(be) != 0 {
		return fail(fmt.Errorf("row of %d elements is not a whole number of %d-element %s blocks", dims[0], be, typ))
	}
	size := elems / uint64(be) * uint64(bb)
	return TensorInfo{Name: name, Type: typ, Dims: dims, Offset: off, Size: size}, nil
}
