package dialect

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"unsafe"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// A prompt decoded into a string of its own was a second prompt-sized
// allocation a call beside the body it was read from, and a burst of
// long-prompt calls outran the pools (docs/benchmarks.md, issue 13,
// promptview session). A body that a request's fast decoder takes is
// therefore the request's own memory, and its prompt texts are views of
// it: the collector lets go of it with the last view, or, for a long
// body from the pool (DecodeJSONPooled), the gateway gives it back once
// nothing reads the request (gateway.WithRequestMemory). Nothing may
// write the bytes once a view is made but the unescaping of that view's
// own bytes (ViewRaw, UnescapeView), once, before the view is read, and
// Release.

// DecodeJSONOwned is DecodeJSONWith for a fast decoder whose values keep
// views of the body (StrView, RawString, ViewRaw): when fast takes it
// (took), the body's buffer belongs to v, and is neither reused nor
// pooled. When fast leaves it, encoding/json decodes v from the untouched
// bytes (it copies what it decodes), and the buffer goes back to the
// pool.
func DecodeJSONOwned(w http.ResponseWriter, r *http.Request, limit int64, v any, fast func(data []byte) bool) (took bool, err *stream.Error) {
	_, took, err = decodeWith(w, r, limit, v, fast, bodyOwned)
	return took, err
}

// DecodeJSONPooled is DecodeJSONOwned (took: fast took the body) with a
// body of 1 KiB or more read into a buffer from the pool: when fast
// takes it, body is that buffer, v's views are of it, and the caller may
// give it back with body.Release once nothing reads them any more: the
// gateway does, when a provider says it has encoded the request
// (gateway.WithRequestMemory). Not given back, the collector frees it
// as DecodeJSONOwned's. Giving the body back spares a burst of
// long-prompt calls a prompt-sized allocation each (docs/benchmarks.md,
// issue 13, bodypool session); a shorter body (body nil) is as
// DecodeJSONOwned's, as the pool's Get and Put would cost more than it.
func DecodeJSONPooled(w http.ResponseWriter, r *http.Request, limit int64, v any, fast func(data []byte) bool) (body *Body, took bool, err *stream.Error) {
	if r.ContentLength < 1<<minBufferShift {
		took, err := DecodeJSONOwned(w, r, limit, v, fast)
		return nil, took, err
	}
	p, took, err := decodeWith(w, r, limit, v, fast, bodyPooled)
	return (*Body)(p), took, err
}

// Body is a request body's buffer from the pool (DecodeJSONPooled).
type Body []byte

var _ gateway.Releaser = (*Body)(nil)

// Release gives b back to the pool, once: nothing may read b, or a view
// of it, after. While PoisonReleasedBodies is on, it overwrites b
// instead, and the pool never gets it.
func (b *Body) Release() { releaseBuffer((*[]byte)(b), &poisoned) }

// giveBack puts p back in the pool, or poisons it and counts it in n
// while PoisonReleasedBodies is on.
func releaseBuffer(p *[]byte, n *atomic.Int64) {
	if poisoning.Load() {
		all := (*p)[:cap(*p)]
		for i := range all {
			all[i] = poison
		}
		n.Add(1)
		return
	}
	PutBuffer(p)
}

var (
	poisoning    atomic.Bool
	poisoned     atomic.Int64 // client bodies (Body)
	poisonedSent atomic.Int64 // upstream bodies (SentBody)
)

// PoisonReleasedBodies is for tests: while on, a body given back (a
// client's Body or an upstream SentBody) is filled with poison bytes, not
// pooled, so that whatever reads it after it was given back reads
// poison. It returns how many client bodies were poisoned so far
// (PoisonedSentBodies counts the upstream ones).
func PoisonReleasedBodies(on bool) int64 {
	poisoning.Store(on)
	return poisoned.Load()
}

// PoisonedSentBodies is how many upstream bodies PoisonReleasedBodies
// poisoned so far.
func PoisonedSentBodies() int64 { return poisonedSent.Load() }

// poison is not valid UTF-8, nor in any prompt a test sends.
const poison = 0xFE

// ViewRaw returns the text of a JSON string's raw bytes (quotes
// included, as RawString reads them) as a view of them, unescaping in
// place when it has escapes: raw must be a string the scanner read and
// checked, in memory the caller owns (DecodeJSONOwned), which nothing
// reads as JSON again. (An escape is never shorter than what it stands
// for, so the text fits in the bytes it was written in.)
func ViewRaw(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		inner = unescapeInPlace(inner)
	}
	return view(inner)
}

// UnescapeView is ViewRaw for a StrView left escaped: the text of s,
// unescaped in place in the memory s views (which the caller owns, and
// nothing else views), or s itself when it has no escapes.
func UnescapeView(s string) string {
	if len(s) == 0 {
		return s
	}
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	if bytes.IndexByte(b, '\\') < 0 {
		return s
	}
	return view(unescapeInPlace(b))
}

// unescapeInPlace decodes the escapes of b, a string's inner bytes that
// the scanner checked (so every escape is one it reads), into b's own
// first bytes, and returns them: the runs between escapes moved whole.
// Each write lands at or before the byte being read: an escape of n
// bytes stands for at most n-3 of UTF-8 (\u), or one byte (\n and the
// others).
func unescapeInPlace(b []byte) []byte {
	w, r := 0, 0
	for {
		i := bytes.IndexByte(b[r:], '\\')
		if i < 0 {
			w += copy(b[w:], b[r:])
			return b[:w]
		}
		w += copy(b[w:], b[r:r+i])
		r += i
		out, next, ok := unescape(b[:w], b, r)
		if !ok { // unreachable for a checked string: the byte as it is
			out, next = append(b[:w], b[r]), r+1
		}
		w, r = len(out), next
	}
}

// view is b's bytes as a string, without a copy.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
