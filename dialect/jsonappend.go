package dialect

import "strconv"

// AppendIntField appends key and *v when v is set, as json.Marshal writes
// an integer: for the hand-written upstream bodies.
func AppendIntField[T int | int64](b []byte, key string, v *T) []byte {
	if v == nil {
		return b
	}
	return strconv.AppendInt(append(b, key...), int64(*v), 10)
}

// AppendStringsField appends key and ss unless ss is empty (omitempty), as
// json.Marshal writes a []string.
func AppendStringsField(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, key...)
	for i, s := range ss {
		if i == 0 {
			b = append(b, '[')
		} else {
			b = append(b, ',')
		}
		b = AppendMarshalledString(b, s)
	}
	return append(b, ']')
}
