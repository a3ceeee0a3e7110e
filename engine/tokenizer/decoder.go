package tokenizer

import "unicode/utf8"

// Decoder turns ids arriving one at a time into text, returning only
// complete UTF-8: bytes of a character split across byte-fallback tokens
// are held until the character is complete. Invalid bytes become U+FFFD, so
// everything returned is valid UTF-8. A Decoder is not safe for concurrent
// use.
type Decoder struct {
	t    Tokenizer
	prev int
	pend []byte
}

// NewDecoder returns a Decoder for text following token prev: the last
// token of the prompt, BOS, or -1 at the start of a text. After BOS (or at
// the start) a SentencePiece piece loses its leading space, as in run.c.
func NewDecoder(t Tokenizer, prev int) *Decoder {
	return &Decoder{t: t, prev: prev}
}

// Next returns the text that token id completes; it may be empty.
func (d *Decoder) Next(id int) string {
	p := d.t.Piece(d.prev, id)
	d.prev = id
	if len(d.pend) == 0 && utf8.ValidString(p) {
		return p // the common case: a whole piece, no copy
	}
	d.pend = append(d.pend, p...)
	// Hold back a trailing sequence that is a valid start of a character.
	keep := 0
	for k := len(d.pend) - 1; k >= 0 && k >= len(d.pend)-utf8.UTFMax+1; k-- {
		if utf8.RuneStart(d.pend[k]) {
			if !utf8.FullRune(d.pend[k:]) {
				keep = len(d.pend) - k
			}
			break
		}
	}
	out := valid(d.pend[:len(d.pend)-keep])
	d.pend = append(d.pend[:0], d.pend[len(d.pend)-keep:]...)
	return out
}

// Flush returns what is held back at the end of the stream: an incomplete
// character, as U+FFFD.
func (d *Decoder) Flush() string {
	out := valid(d.pend)
	d.pend = d.pend[:0]
	return out
}

// valid returns b as a string with each invalid byte (or truncated
// sequence) replaced by U+FFFD.
func valid(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
			b = b[max(n, 1):]
			continue
		}
		out = append(out, b[:n]...)
		b = b[n:]
	}
	return string(out)
}
