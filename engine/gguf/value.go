package gguf

import "fmt"

// ValueType is the type tag of a metadata value, numbered as in GGUF files.
type ValueType uint32

const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// size is the encoded size of a fixed-size scalar, or 0 for strings and
// arrays.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the smallest number of bytes one value of type t occupies; it
// bounds counts read from a file before anything is allocated.
func (t ValueType) minSize() int {
	switch t {
	case TypeString:
		return 8
	case TypeArray:
		return 12
	}
	return t.size()
}

// Value is one metadata value. Data holds scalars as the matching Go type
// (uint8 … float64, bool, string) and arrays as Array.
type Value struct {
	Type ValueType
	Data any
}

// Array is an array value. Data is a slice of the element's Go type:
// []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool,
// []string, []uint64, []int64, []float64, or []Array for nested arrays.
type Array struct {
	Elem ValueType
	Data any
}

// Len returns the number of elements.
func (a Array) Len() int {
	switch d := a.Data.(type) {
	case []uint8:
		return len(d)
	case []int8:
		return len(d)
	case []uint16:
		return len(d)
	case []int16:
		return len(d)
	case []uint32:
		return len(d)
	case []int32:
		return len(d)
	case []float32:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	case []uint64:
		return len(d)
	case []int64:
		return len(d)
	case []float64:
		return len(d)
	case []Array:
		return len(d)
	}
	return 0
}

// ValueOf wraps a Go value as a metadata Value. It accepts the scalar types
// listed on Value, Array, and slices of the scalar types or of Array.
func ValueOf(x any) (Value, error) {
	switch x := x.(type) {
	case uint8:
		return Value{TypeUint8, x}, nil
	case int8:
		return Value{TypeInt8, x}, nil
	case uint16:
		return Value{TypeUint16, x}, nil
	case int16:
		return Value{TypeInt16, x}, nil
	case uint32:
		return Value{TypeUint32, x}, nil
	case int32:
		return Value{TypeInt32, x}, nil
	case float32:
		return Value{TypeFloat32, x}, nil
	case bool:
		return Value{TypeBool, x}, nil
	case string:
		return Value{TypeString, x}, nil
	case uint64:
		return Value{TypeUint64, x}, nil
	case int64:
		return Value{TypeInt64, x}, nil
	case float64:
		return Value{TypeFloat64, x}, nil
	case Array:
		a, err := checkArray(x.Data, 0)
		if err != nil {
			return Value{}, err
		}
		return Value{TypeArray, a}, nil
	case Value:
		return x, nil
	}
	a, err := checkArray(x, 0)
	if err != nil {
		return Value{}, err
	}
	return Value{TypeArray, a}, nil
}

// checkArray returns data as an Array with Elem set from its Go type, at
// every level of nesting.
func checkArray(data any, depth int) (Array, error) {
	if depth >= maxNesting {
		return Array{}, fmt.Errorf("gguf: arrays nested more than %d deep", maxNesting)
	}
	elem, err := arrayElem(data)
	if err != nil {
		return Array{}, err
	}
	if nested, ok := data.([]Array); ok {
		out := make([]Array, len(nested))
		for i, a := range nested {
			if out[i], err = checkArray(a.Data, depth+1); err != nil {
				return Array{}, err
			}
		}
		data = out
	}
	return Array{Elem: elem, Data: data}, nil
}

func arrayElem(x any) (ValueType, error) {
	switch x.(type) {
	case []uint8:
		return TypeUint8, nil
	case []int8:
		return TypeInt8, nil
	case []uint16:
		return TypeUint16, nil
	case []int16:
		return TypeInt16, nil
	case []uint32:
		return TypeUint32, nil
	case []int32:
		return TypeInt32, nil
	case []float32:
		return TypeFloat32, nil
	case []bool:
		return TypeBool, nil
	case []string:
		return TypeString, nil
	case []uint64:
		return TypeUint64, nil
	case []int64:
		return TypeInt64, nil
	case []float64:
		return TypeFloat64, nil
	case []Array:
		return TypeArray, nil
	}
	return 0, fmt.Errorf("gguf: unsupported metadata value type %T", x)
}

// asInt64 returns an integer scalar's value.
func (v Value) asInt64() (int64, bool) {
	switch x := v.Data.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x > 1<<63-1 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}
