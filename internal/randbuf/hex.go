package randbuf

import (
	"encoding/binary"
	"sync"
	"unsafe"
)

// Hex writes 24 lower-case hex digits of 12 fresh random bytes into dst:
// an id of 96 random bits, as hex.Encode of the bytes would be but for
// the order of the digits (which no one can tell from random ones).
func Hex(dst *[24]byte) {
	var b [12]byte
	Read(b[:])
	encode(dst, &b)
}

// encode writes b's 24 nibbles as hex digits, eight a word (hex.Encode's
// table look-up takes about ten instructions a digit): the low nibbles
// of b[0:8], then their high nibbles, then b[8:12]'s low and high. Each
// nibble makes one digit, so distinct bytes make distinct ids
// (TestEncodeIsHexOfTheNibbles, FuzzEncode).
func encode(dst *[24]byte, b *[12]byte) {
	const lo = 0x0f0f0f0f0f0f0f0f
	w := binary.LittleEndian.Uint64(b[0:8])
	v := uint64(binary.LittleEndian.Uint32(b[8:12]))
	binary.LittleEndian.PutUint64(dst[0:8], digits(w&lo))
	binary.LittleEndian.PutUint64(dst[8:16], digits(w>>4&lo))
	binary.LittleEndian.PutUint64(dst[16:24], digits(v&0x0f0f0f0f|(v>>4&0x0f0f0f0f)<<32))
}

// digits turns each byte of x, a nibble, into its hex digit: '0' + n,
// and 'a'−'0'−10 more for n > 9 (n+6 carries into bit 4 exactly then).
func digits(x uint64) uint64 {
	const ones = 0x0101010101010101
	over := (x + 6*ones) >> 4 & ones
	return x + '0'*ones + over*('a'-'0'-10)
}

// Prefixed hands out ids of a prefix and 24 hex digits (Hex's) as
// strings, made eight at a time in one allocation: an id's string is a
// part of its block's, so a string kept (a record's id) keeps its block,
// at most eight ids' bytes.
type Prefixed struct {
	mu     sync.Mutex
	prefix string
	block  string // ids not yet handed out, one after another
}

// prefixedBlock is how many ids a block holds.
const prefixedBlock = 8

// NewPrefixed returns ids starting with prefix.
func NewPrefixed(prefix string) *Prefixed { return &Prefixed{prefix: prefix} }

// Next returns a new id.
func (p *Prefixed) Next() string {
	n := len(p.prefix) + 24
	p.mu.Lock()
	if len(p.block) < n {
		p.block = p.fill()
	}
	id := p.block[:n]
	p.block = p.block[n:]
	p.mu.Unlock()
	return id
}

// fill makes a block of ids, with p.mu held.
//
//go:noinline
func (p *Prefixed) fill() string {
	n := len(p.prefix) + 24
	var raw [prefixedBlock * 12]byte
	Read(raw[:]) // one read for the block
	out := make([]byte, prefixedBlock*n)
	for i := range prefixedBlock {
		id := out[i*n : (i+1)*n]
		copy(id, p.prefix)
		encode((*[24]byte)(id[len(p.prefix):]), (*[12]byte)(raw[i*12:]))
	}
	clear(raw[:])
	return unsafe.String(&out[0], len(out)) // out is never written again
}
