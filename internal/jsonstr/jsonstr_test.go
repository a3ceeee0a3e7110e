package jsonstr

import (
	"testing"
	"unicode/utf8"
)

// Both escapings write the same bytes as they are (they differ in control
// bytes alone), so that appendString's scan has one table for both.
func TestPlainIsBothEscapings(t *testing.T) {
	for b := range utf8.RuneSelf {
		if stream, marshal := streamEscape[b] == 0, marshalEscape[b] == 0; plain[b] != stream || plain[b] != marshal {
			t.Errorf("byte %#x: plain %v, as is in Append %v, in AppendMarshalled %v", b, plain[b], stream, marshal)
		}
	}
	for b := utf8.RuneSelf; b < 256; b++ {
		if plain[b] {
			t.Errorf("byte %#x beyond ASCII is plain", b)
		}
	}
}

// The encoders themselves are held to json.Marshal by the dialect
// package's FuzzAppendJSONString, through its wrappers.
