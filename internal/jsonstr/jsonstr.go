// Package jsonstr appends strings as JSON strings, escaped as
// encoding/json escapes them, without allocating: for the dialects'
// encoders and the SSE writer's token events (sse.Writer.SendText), which
// cannot import the dialects.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// Append appends s to dst as a quoted JSON string, escaping what JSON
// requires (and <, >, & and U+2028/U+2029, as encoding/json does) and
// replacing invalid UTF-8 with U+FFFD. It never panics.
func Append(dst []byte, s string) []byte {
	return appendString(dst, s, &streamEscape)
}

// AppendMarshalled is Append writing exactly the bytes json.Marshal
// writes for s (which names \b and \f, where Append writes \u0008 and
// \u000c).
func AppendMarshalled(dst []byte, s string) []byte {
	return appendString(dst, s, &marshalEscape)
}

// streamEscape and marshalEscape say how each ASCII byte is written in a
// string: 0 as it is, 'u' as \u00XX, else a backslash and that letter.
var (
	streamEscape  = escapes(false)
	marshalEscape = escapes(true)
	// plain holds the bytes both write as they are (ASCII that neither
	// escapes: they differ in control bytes alone): one lookup a byte
	// for a token's text, which most often is nothing else. A table of
	// the package's, not a parameter: the loop then has no nil check.
	plain = asIs(&streamEscape)
)

func asIs(esc *[utf8.RuneSelf]byte) (t [256]bool) {
	for b := range utf8.RuneSelf {
		t[b] = esc[b] == 0
	}
	return t
}

func escapes(named bool) (t [utf8.RuneSelf]byte) {
	for c := range 0x20 {
		t[c] = 'u'
	}
	t['\n'], t['\r'], t['\t'] = 'n', 'r', 't'
	if named {
		t['\b'], t['\f'] = 'b', 'f'
	}
	t['"'], t['\\'] = '"', '\\'
	t['<'], t['>'], t['&'] = 'u', 'u', 'u'
	return t
}

func appendString(dst []byte, s string, esc *[utf8.RuneSelf]byte) []byte {
	if b, ok := AppendShort(dst, s); ok {
		return b
	}
	i := 0
	for i < len(s) && plain[s[i]] {
		i++
	}
	if i < len(s) {
		return appendEscaped(dst, s, i, esc)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AppendShort is Append for a token's text, most often: a string of up
// to shortString bytes that both escapings write as it is, copied a byte
// at a time as it is checked, in the room dst has (not scanned, then
// copied by a memmove call). It calls nothing, so it inlines: ok is false
// (b nil, and dst's bytes past its length undefined) for any other
// string, or too little room, which Append then writes.
func AppendShort(dst []byte, s string) (b []byte, ok bool) {
	n := len(dst)
	if len(s) > shortString || cap(dst)-n < ShortRoom {
		return nil, false
	}
	out := (*[ShortRoom]byte)(dst[n:cap(dst)])
	for i, c := range []byte(s) {
		if !plain[c] {
			return nil, false
		}
		out[i+1] = c
	}
	out[0], out[len(s)+1] = '"', '"'
	return dst[:n+len(s)+2], true
}

// shortString is the longest string appendString copies a byte at a time.
const shortString = 16

// ShortRoom is the room AppendShort needs after dst's bytes.
const ShortRoom = shortString + 2

// appendEscaped is appendString for s whose byte i is the first not
// plain, out of line.
//
//go:noinline
func appendEscaped(dst []byte, s string, i int, esc *[utf8.RuneSelf]byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i < len(s) {
		b := s[i]
		if b < utf8.RuneSelf {
			if e := esc[b]; e != 0 {
				dst = append(dst, s[start:i]...)
				if e == 'u' {
					dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
				} else {
					dst = append(dst, '\\', e)
				}
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
