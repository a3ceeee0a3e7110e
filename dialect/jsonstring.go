package dialect

import (
	"math"
	"math/bits"
	"strconv"

	"github.com/runnel/runnel/internal/jsonstr"
	"github.com/runnel/runnel/stream"
)

// AppendJSONString appends s to dst as a quoted JSON string, escaping what
// JSON requires (and <, >, & and U+2028/U+2029, as encoding/json does) and
// replacing invalid UTF-8 with U+FFFD. Encoders use it on the per-token path
// to write pre-shaped JSON without allocating.
func AppendJSONString(dst []byte, s string) []byte { return jsonstr.Append(dst, s) }

// AppendMarshalledString is AppendJSONString writing exactly the bytes
// json.Marshal writes for s (which names \b and \f, where
// AppendJSONString writes \u0008 and \u000c), for bodies that must stay
// byte for byte what encoding/json made of them.
func AppendMarshalledString(dst []byte, s string) []byte {
	return jsonstr.AppendMarshalled(dst, s)
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

// PlainEndBytes is PlainEnd over bytes, eight at a time: a call's ids
// and models (a first chunk's head, a request's strings) are tens of
// plain bytes, each a look-up, a compare and a branch of its own in
// PlainEnd's loop.
func PlainEndBytes(b []byte, i int) int { return plainEnd8(b, i) }

// PlainEndWide is PlainEndBytes over a string, for the strings of a
// call's fixed events. PlainEnd stays a byte a step: a token's text is a
// few bytes.
func PlainEndWide(s string, i int) int { return plainEnd8(s, i) }

func plainEnd8[T string | []byte](b T, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		w := b[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		q, bs := x^(ones*'"'), x^(ones*'\\')
		// A byte's high bit is set in m when it is below 0x20 (x-0x20…
		// borrows there), a quote or a backslash (q-1… or bs-1… borrows
		// under its zero) or above 0x7f. A borrow only runs upward, from
		// such a byte: the lowest bit set is the first byte that is not
		// plain, exactly.
		if m := ((x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs | x) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && jsonPlain[b[i]] {
		i++
	}
	return i
}
