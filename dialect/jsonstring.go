package dialect

import (
	"unicode/utf8"

	"github.com/runnel/runnel/stream"
)

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s to dst as a quoted JSON string, escaping what
// JSON requires (and <, >, & and U+2028/U+2029, as encoding/json does) and
// replacing invalid UTF-8 with U+FFFD. Encoders use it on the per-token path
// to write pre-shaped JSON without allocating.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
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
