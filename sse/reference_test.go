package sse

import (
	"bytes"
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// refRead is the event stream's parsing as the WHATWG HTML standard
// (§9.2.6) writes it, over the whole input at once: the reference the
// Reader is held to. Bytes are not decoded as UTF-8 (neither does the
// Reader). max bounds a block (the lines since the last blank line,
// without their ends); a block over it, or an unterminated last line
// over it, ends the stream with ErrTooLong.
func refRead(in []byte, max int) (evs []Event, lastID string, retry time.Duration, err error) {
	in = bytes.TrimPrefix(in, []byte("\ufeff"))
	var (
		data, typ  string
		hasData    bool
		blockRetry time.Duration
		size       int
	)
	for {
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			if len(in) > max {
				return evs, lastID, retry, ErrTooLong
			}
			return evs, lastID, retry, io.EOF // the unterminated rest is dropped
		}
		line := string(in[:i])
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
		in = in[i+1:]
		if line == "" {
			if hasData {
				if typ == "" {
					typ = "message"
				}
				evs = append(evs, Event{ID: lastID, Event: typ, Data: strings.TrimSuffix(data, "\n"), Retry: blockRetry})
			}
			data, typ, hasData, blockRetry, size = "", "", false, 0, 0
			continue
		}
		if size += len(line); size > max {
			return evs, lastID, retry, ErrTooLong
		}
		if line[0] == ':' {
			continue
		}
		field, val, _ := strings.Cut(line, ":")
		val = strings.TrimPrefix(val, " ")
		switch field {
		case "event":
			typ = val
		case "data":
			data += val + "\n"
			hasData = true
		case "id":
			if !strings.Contains(val, "\x00") {
				lastID = val
			}
		case "retry":
			ms, err := strconv.ParseUint(val, 10, 63)
			if err == nil && val[0] != '+' && ms <= uint64(time.Duration(1<<63-1)/time.Millisecond) {
				retry, blockRetry = time.Duration(ms)*time.Millisecond, time.Duration(ms)*time.Millisecond
			}
		}
	}
}

// chunks returns its input in reads of the sizes in sizes, in turn
// (0 counts as 1).
type chunks struct {
	b     []byte
	sizes []byte
	i     int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(c.sizes) > 0 {
		n = max(int(c.sizes[c.i%len(c.sizes)]), 1)
		c.i++
	}
	n = copy(p, c.b[:min(n, len(c.b))])
	c.b = c.b[n:]
	return n, nil
}

// readAllRaw reads src to its end with NextRaw (copying each event), and
// returns the events, the end's error and the Reader's state after. With
// a shape it tries NextShaped first for every event, and fails t unless
// what that takes is an event of the shape.
func readAllRaw(t *testing.T, src io.Reader, max int, sh *testShape) (evs []Event, lastID string, retry time.Duration, err error) {
	r := NewReader(src)
	r.SetMaxEventSize(max)
	if sh != nil {
		// Names a stream may send (and the shape's), which the reader
		// takes rather than making strings: the same events either way.
		r.SetNames([]string{"d", sh.name, "e", "ping", "message", ""})
	}
	for {
		if sh != nil {
			var shape Shape
			shape.SetOptional(sh.name, []byte(sh.head), []byte(sh.tail), []byte(sh.end), []byte(sh.opt))
			table := &sh.run
			if sh.plain {
				table = nil
			}
			if run, ok := r.NextShaped(&shape, table); ok {
				typ := cmp.Or(sh.name, "message")
				if len(run) == 0 || slices.ContainsFunc(run, func(c byte) bool { return !sh.run[c] }) {
					t.Fatalf("NextShaped took %q, not a run", run)
				}
				// The data after the run: up to the event's blank line,
				// in the buffer just taken.
				at := int(uintptr(unsafe.Pointer(unsafe.SliceData(run))) - uintptr(unsafe.Pointer(r.bufp)))
				rest := string(r.buf[at+len(run) : r.r-2])
				if !sh.rest(rest) {
					t.Fatalf("NextShaped took %q after the run, not of the shape %+v", rest, sh)
				}
				evs = append(evs, Event{ID: r.LastID(), Event: typ, Data: sh.head + string(run) + rest})
				continue
			}
		}
		ev, err := r.NextRaw()
		if err != nil {
			if _, again := r.NextRaw(); again != err {
				t.Fatalf("error %v, then %v: not sticky", err, again)
			}
			return evs, r.LastID(), r.Retry(), err
		}
		evs = append(evs, Event{ID: r.LastID(), Event: ev.Event, Data: string(ev.Data), Retry: ev.Retry})
	}
}

// testShape is what NextShaped is asked for.
type testShape struct {
	name, head, tail string
	end, opt         string // SetOptional's
	run              [256]bool
	plain            bool // NextShaped given no table (JSON-plain): run must be jsonRun
}

// rest reports whether rest is what an event of sh may have after its
// run: tail and end, or with opt, tail, opt, a JSON-plain run, a quote
// and end.
func (sh *testShape) rest(rest string) bool {
	if rest == sh.tail+sh.end {
		return true
	}
	v, ok := strings.CutPrefix(rest, sh.tail+sh.opt)
	v, ok2 := strings.CutSuffix(v, `"`+sh.end)
	return sh.opt != "" && ok && ok2 && v != "" &&
		!strings.ContainsFunc(v, func(c rune) bool { return c > 0x7f || !jsonRun[c] })
}

// jsonRun is a run of a JSON string's plain bytes (dialect.PlainEnd's):
// printable ASCII but the quote and the backslash.
var jsonRun = func() (t [256]bool) {
	for b := 0x20; b < 0x80; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// FuzzReaderReference holds the Reader to refRead, the input read whole,
// a byte at a time and in reads of fuzzed sizes (across the buffer's
// edge), with a small and a large size limit.
func FuzzReaderReference(f *testing.F) {
	f.Add([]byte("data: YHOO\ndata: +2\n\n: c\nid: 1\r\nevent: x\r\rretry: 10\n\n"), []byte{3, 7}, false)
	f.Add([]byte("\ufeffdata\n\nid: \x00\ndata:\r\n\n"), []byte{1}, true)
	f.Add([]byte("\ufeff\ufeffdata: a\n\ndata: b\n\n"), []byte{2}, false)
	f.Add([]byte("id: 1\ndata: {\"a\":1}\n\nid: 2\nevent: e\ndata: x\ndata: y\n\ndata: [DONE]\n\n"), []byte{200, 255, 13}, true)
	f.Add([]byte("data: a\r\ndata: b\r\n\r\nretry: 99999999999999999999\ndata:c\r\rdata:d\n"), []byte{5}, false)
	f.Add([]byte("data: "+strings.Repeat("x", 700)+"\n\nid: 9\ndata: "+strings.Repeat("y", 300)+"\ndata: z\n\n"), []byte{255, 255, 255, 100}, false)
	f.Add([]byte("event: ping\n\nevent\ndata\n\nretry: 5\nid\ndata: q\n\n"), []byte{}, true)
	f.Fuzz(func(t *testing.T, in, sizes []byte, small bool) {
		// NextRaw alone, and NextShaped first: a shape any data line of
		// a few plain bytes fits, and one of JSON (dialects' token paths).
		shapes := []*testShape{nil, {run: jsonRun}, {head: `{"a":"`, tail: `"}`, run: jsonRun},
			{head: `{"a":"`, tail: `"}`, run: jsonRun, plain: true},
			{head: `{"a":"`, tail: `"`, end: `}`, opt: `,"o":"`, run: jsonRun, plain: true}}
		checkReference(t, in, sizes, small, shapes)
	})
}

// FuzzNextShaped holds NextShaped to refRead: any event it takes is one
// the reference reads, of the shape asked for (fuzzed: one whose name or
// data holds a CR or LF takes nothing).
func FuzzNextShaped(f *testing.F) {
	f.Add([]byte("id: 1\nevent: d\ndata: {\"t\":\"a\"}\n\nid: 2\nevent: d\ndata: {\"t\":\"b c\"}\n\n"), []byte{30, 7}, false, "d", `{"t":"`, `"}`)
	f.Add([]byte("data: {\"t\":\"a\"}\r\n\r\ndata: {\"t\":\"\"}\n\nid: \x00\ndata: {\"t\":\"a\"}\n\n"), []byte{}, true, "", `{"t":"`, `"}`)
	f.Add([]byte("id: 12\revent: d\ndata: {\"t\":\"a\"}\n\nevent: e\ndata: {\"t\":\"a\\\"\"}\n\n"), []byte{3}, false, "d", `{"t":"`, `"}`)
	f.Add([]byte("data: x\n\nid: 1\r\ndata: {\"t\":\"a\"}\n\nid: 2\ndata: {\"t\":\"b\"}\n\r\n"), []byte{}, false, "", `{"t":"`, `"}`)
	f.Add([]byte("data: x\n\nevent: d\ndata: {\"t\":\"a\n\"}\n\n"), []byte{}, false, "d", `{"t":"`, "a\n")
	f.Add([]byte("data: {\"t\":\"a\",\"o\":\"x\"}\n\ndata: {\"t\":\"b\",\"o\":\"yz\"}\n\ndata: {\"t\":\"c\"}\n\ndata: {\"t\":\"d\",\"o\":\"\"}\n\n"),
		[]byte{9, 1}, false, "", `{"t":"`, `"`+"\x00"+`}`+"\x00"+`,"o":"`)
	f.Fuzz(func(t *testing.T, in, sizes []byte, small bool, name, head, tail string) {
		// tail may be tail NUL end NUL opt: SetOptional's.
		var end, opt string
		if parts := strings.Split(tail, "\x00"); len(parts) == 3 {
			tail, end, opt = parts[0], parts[1], parts[2]
		}
		checkReference(t, in, sizes, small, []*testShape{{name: name, head: head, tail: tail, end: end, opt: opt, run: jsonRun},
			{name: name, head: head, tail: tail, end: end, opt: opt, run: jsonRun, plain: true}})
	})
}

// checkReference reads in through each of shapes (readAllRaw) whole, a
// byte at a time and in reads of sizes, and fails t unless it reads what
// refRead does.
func checkReference(t *testing.T, in, sizes []byte, small bool, shapes []*testShape) {
	limit := 1 << 16
	if small {
		limit = 40
	}
	want, wantID, wantRetry, wantErr := refRead(in, limit)
	for _, sh := range shapes {
		for _, src := range []io.Reader{bytes.NewReader(in), &chunks{b: in}, &chunks{b: in, sizes: sizes}} {
			got, id, retry, err := readAllRaw(t, src, limit, sh)
			if err != wantErr || !slices.Equal(got, want) {
				t.Fatalf("%T %v (shape %+v): got %q, %v\nwant %q, %v", src, sizes, sh, got, err, want, wantErr)
			}
			if wantErr == io.EOF && (id != wantID || retry != wantRetry) {
				t.Fatalf("%T (shape %+v): at the end id %q retry %v, want %q %v", src, sh, id, retry, wantID, wantRetry)
			}
		}
	}
}
