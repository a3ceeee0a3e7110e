package gguf

import (
	"fmt"
	"math"
)

// Value returns the metadata value stored under key.
func (f *File) Value(key string) (Value, bool) {
	i, ok := f.kv[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Has reports whether the file has metadata key.
func (f *File) Has(key string) bool { _, ok := f.kv[key]; return ok }

func (f *File) get(key string) (Value, error) {
	v, ok := f.Value(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf: metadata %q: %w", key, ErrNotFound)
	}
	return v, nil
}

func typeErr(key, want string, v Value) error {
	if a, ok := v.Data.(Array); ok {
		return fmt.Errorf("gguf: metadata %q: want %s, have array of %s", key, want, a.Elem)
	}
	return fmt.Errorf("gguf: metadata %q: want %s, have %s", key, want, v.Type)
}

// String returns a string value.
func (f *File) String(key string) (string, error) {
	v, err := f.get(key)
	if err != nil {
		return "", err
	}
	s, ok := v.Data.(string)
	if !ok {
		return "", typeErr(key, "string", v)
	}
	return s, nil
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.get(key)
	if err != nil {
		return false, err
	}
	b, ok := v.Data.(bool)
	if !ok {
		return false, typeErr(key, "bool", v)
	}
	return b, nil
}

// Int64 returns an integer value of any integer type.
func (f *File) Int64(key string) (int64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	n, ok := v.asInt64()
	if !ok {
		if u, isU := v.Data.(uint64); isU {
			return 0, fmt.Errorf("gguf: metadata %q: %d overflows int64", key, u)
		}
		return 0, typeErr(key, "integer", v)
	}
	return n, nil
}

// Uint32 returns an integer value of any integer type that fits in uint32;
// writers disagree on the width of counts, so any width is accepted.
func (f *File) Uint32(key string) (uint32, error) {
	n, err := f.Int64(key)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > math.MaxUint32 {
		return 0, fmt.Errorf("gguf: metadata %q: %d is out of range for uint32", key, n)
	}
	return uint32(n), nil
}

// Uint64 returns a non-negative integer value of any integer type.
func (f *File) Uint64(key string) (uint64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	if u, ok := v.Data.(uint64); ok {
		return u, nil
	}
	n, err := f.Int64(key)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("gguf: metadata %q: %d is negative", key, n)
	}
	return uint64(n), nil
}

// Int32 returns an integer value of any integer type that fits in int32.
func (f *File) Int32(key string) (int32, error) {
	n, err := f.Int64(key)
	if err != nil {
		return 0, err
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, fmt.Errorf("gguf: metadata %q: %d is out of range for int32", key, n)
	}
	return int32(n), nil
}

// Float32 returns a float32 value; a float64 is narrowed.
func (f *File) Float32(key string) (float32, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	switch x := v.Data.(type) {
	case float32:
		return x, nil
	case float64:
		return float32(x), nil
	}
	return 0, typeErr(key, "float32", v)
}

// Array returns an array value.
func (f *File) Array(key string) (Array, error) {
	v, err := f.get(key)
	if err != nil {
		return Array{}, err
	}
	a, ok := v.Data.(Array)
	if !ok {
		return Array{}, typeErr(key, "array", v)
	}
	return a, nil
}

// Strings returns an array of strings.
func (f *File) Strings(key string) ([]string, error) {
	return arrayOf[string](f, key, "array of string")
}

// Float32s returns an array of float32.
func (f *File) Float32s(key string) ([]float32, error) {
	return arrayOf[float32](f, key, "array of float32")
}

// Int32s returns an array of int32.
func (f *File) Int32s(key string) ([]int32, error) {
	return arrayOf[int32](f, key, "array of int32")
}

// Uint32s returns an array of uint32.
func (f *File) Uint32s(key string) ([]uint32, error) {
	return arrayOf[uint32](f, key, "array of uint32")
}

func arrayOf[T any](f *File, key, want string) ([]T, error) {
	a, err := f.Array(key)
	if err != nil {
		return nil, err
	}
	s, ok := a.Data.([]T)
	if !ok {
		return nil, fmt.Errorf("gguf: metadata %q: want %s, have array of %s", key, want, a.Elem)
	}
	return s, nil
}
