package dialect

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/runnel/runnel/stream"
)

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s to dst as a quoted JSON string, escaping what
// JSON requires (and <, >, & and U+2028/U+2029, as encoding/json does) and
// replacing invalid UTF-8 with U+FFFD. Encoders use it on the per-token path
// to write pre-shaped JSON without allocating.
func AppendJSONString(dst []byte, s string) []byte {
	return appendString(dst, s, &streamEscape, &streamAsIs)
}

// AppendMarshalledString is AppendJSONString writing exactly the bytes
// json.Marshal writes for s (which names \b and \f, where
// AppendJSONString writes \u0008 and \u000c), for bodies that must stay
// byte for byte what encoding/json made of them.
func AppendMarshalledString(dst []byte, s string) []byte {
	return appendString(dst, s, &marshalEscape, &marshalAsIs)
}

// Finite reports whether f is unset or a number JSON can hold
// (json.Marshal refuses NaN and infinities).
func Finite(f *float64) bool {
	return f == nil || !math.IsNaN(*f) && !math.IsInf(*f, 0)
}

// AppendFloatField appends key and *f, when f is set, in json.Marshal's
// form of a float64: %f-like, or an exponent (without a leading zero)
// below 1e-6 and from 1e21 on. f must be Finite.
func AppendFloatField(b []byte, key string, f *float64) []byte {
	if f == nil {
		return b
	}
	b = append(b, key...)
	v, format := *f, byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// streamEscape and marshalEscape say how each ASCII byte is written in a
// string: 0 as it is, 'u' as \u00XX, else a backslash and that letter.
var (
	streamEscape  = escapes(false)
	marshalEscape = escapes(true)
	// streamAsIs and marshalAsIs hold the bytes each writes as they are
	// (ASCII that it does not escape): one lookup a byte for a token's
	// text, which most often is nothing else.
	streamAsIs  = asIs(&streamEscape)
	marshalAsIs = asIs(&marshalEscape)
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

func appendString(dst []byte, s string, esc *[utf8.RuneSelf]byte, asIs *[256]bool) []byte {
	dst = append(dst, '"')
	i := 0
	for i < len(s) && asIs[s[i]] {
		i++
	}
	if i == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
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

// UpstreamCode classifies an upstream provider's HTTP error status.
func UpstreamCode(status int) stream.Code {
	switch {
	case status == 400 || status == 413 || status == 422:
		return stream.CodeInvalidRequest
	case status == 401:
		return stream.CodeUnauthorized
	case status == 402:
		return stream.CodeInsufficientCredit
	case status == 403:
		return stream.CodeForbidden
	case status == 404:
		return stream.CodeNotFound
	case status == 408 || status == 504:
		return stream.CodeTimeout
	case status == 429:
		return stream.CodeRateLimited
	case status == 503 || status == 529:
		return stream.CodeOverloaded
	}
	return stream.CodeUpstream
}

// jsonPlain holds the bytes a JSON string may hold as they are, with
// nothing to decode or check: printable ASCII but the quote and the
// backslash.
var jsonPlain = func() (t [256]bool) {
	for b := 0x20; b < 0x80; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// PlainEnd is the index of the first byte of s from i on that a JSON
// string cannot hold as it is (a quote, a backslash, a control byte or
// any non-ASCII byte), or len(s): one table lookup a byte, for parsers
// that take most strings (keys, ids, tokens) straight from their input.
func PlainEnd(s string, i int) int {
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	return i
}

// PlainString reports whether str, two bytes or more, is a JSON string
// with nothing to unescape or check: printable ASCII between its quotes
// (a token's text, taken as it is by the dialects' token paths).
func PlainString(str string) bool {
	return str[0] == '"' && str[len(str)-1] == '"' && PlainEnd(str, 1) == len(str)-1
}

// PlainEndBytes is PlainEnd over bytes.
func PlainEndBytes(b []byte, i int) int {
	for i < len(b) && jsonPlain[b[i]] {
		i++
	}
	return i
}
