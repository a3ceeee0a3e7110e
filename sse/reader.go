package sse

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/runnel/runnel/internal/prefetch"
)

// Event is one dispatched event.
type Event struct {
	// ID is the stream's last event id when the event was dispatched: the
	// value a reconnecting client sends as Last-Event-ID.
	ID string
	// Event is the event type, "message" when the stream named none.
	Event string
	// Data is the event's data lines joined with LF.
	Data string
	// Retry is the reconnection delay set by a retry field in this event's
	// block, or 0.
	Retry time.Duration
}

// DefaultMaxEventSize bounds one event (all its lines) in a Reader.
const DefaultMaxEventSize = 1 << 20

// ErrTooLong is returned when an event exceeds the Reader's size limit.
var ErrTooLong = errors.New("sse: event too long")

// Reader parses an event stream by the WHATWG HTML rules: lines end with
// LF, CR or CRLF; a leading BOM is dropped; comment lines are ignored;
// data lines are joined with LF; an id containing NUL is ignored; an event
// with no data, or one the stream ends before terminating, is not
// dispatched.
//
// It reads into a buffer of its own (not a bufio.Reader): a line wholly in
// the buffer is found with one IndexByte and used in place, and an event
// with one data line returns that line's bytes without a copy. A line
// longer than what is buffered is joined in a slice of its own; an event
// larger than the size limit ends the stream with ErrTooLong.
type Reader struct {
	src io.Reader
	// before is called before every read of src (SetBeforeRead), or nil.
	before Waiter
	// after is before's AfterWait, when it has one (AfterWaiter).
	after AfterWaiter
	bufp  *[readerBuffer]byte // from readerPool; nil once released
	buf   []byte              // bufp's bytes
	r, w  int                 // the unread bytes are buf[r:w]
	// cr is the index of the first CR in buf[r:w], or w when there is
	// none; it is stale (found again) once r passes it. Lines are
	// searched for LF only before it, so the commonest streams (LF only)
	// scan their bytes for CR once per read rather than once per line.
	// While crLazy, buf[cr:w] is yet to be searched (buf[r:cr] holds no
	// CR): fill leaves the search to the parse that needs it (knownCR),
	// which NextShaped, checking every byte it takes, does not.
	cr      int
	crLazy  bool
	rerr    error // the source's error, returned once the buffer is used up
	err     error // sticky: once the stream ended or failed
	max     int
	started bool // BOM check done
	skipLF  bool // the last line ended with CR: a following LF belongs to it
	// The last id is idBuf[:idLen] when idShort (NextRaw's fast path),
	// else id.
	id      []byte
	idBuf   [maxShortID]byte
	idLen   int
	idShort bool
	idDirty bool     // the id changed since idStr was made
	idStr   string   // the id as a string, made when asked for
	name    string   // the last event type seen, reused while it repeats
	names   []string // SetNames': taken for a new name that is one of them
	retry   time.Duration
	line    []byte // a line joined across reads
	// data is the event's data: in place in buf while inPlace (one data
	// line, read whole), else in own.
	data    []byte
	own     []byte
	inPlace bool
}

// RawEvent is an event whose Data aliases the Reader's buffer: it is valid
// only until the next call on the Reader. It spares a parser that takes
// what it needs from the data a copy of each event.
type RawEvent struct {
	Event string // "message" when the stream named none
	Data  []byte
	Retry time.Duration
}

// readerBuffer is the size of a Reader's buffer. Upstream events are one
// to a few hundred bytes and the transport below buffers its reads (the
// upstream connection's 1 KiB, openai.UpstreamReadBuffer), so 512 bytes
// seldom splits a line (a longer one is joined in r.line, at no extra
// system call), and an open stream holds 512 bytes, not the 4 KiB page a
// larger buffer keeps resident.
const readerBuffer = 512

// Buffers are pooled: a streaming gateway opens a Reader per upstream call,
// and their buffers would otherwise be most of its garbage.
var readerPool = sync.Pool{New: func() any { return new([readerBuffer]byte) }}

// NewReader returns a Reader of r with DefaultMaxEventSize.
func NewReader(r io.Reader) *Reader {
	rd := new(Reader)
	rd.Init(r)
	return rd
}

// Init makes r a Reader of src, as NewReader would, whatever r held
// before (a released Reader's state is gone): for a Reader inside its
// stream's own state, an allocation a call less. r must not be in use.
func (r *Reader) Init(src io.Reader) {
	bp := readerPool.Get().(*[readerBuffer]byte)
	*r = Reader{src: src, bufp: bp, buf: bp[:], max: DefaultMaxEventSize}
}

// Waiter is what a Reader calls before each read of its source: a
// stream.Waiter, named here because sse imports no Runnel package.
type Waiter interface{ BeforeWait() }

// SetBeforeRead makes r call w before every read of its source, where
// the stream may wait for its sender (stream.BeforeWait): a layer less a
// read than a source that calls w itself (dialect.BodyReader). An
// interface, not a func, so that passing a call's Waiter allocates no
// method value.
func (r *Reader) SetBeforeRead(w Waiter) {
	r.before = w
	r.after, _ = w.(AfterWaiter)
}

// AfterWaiter is a Waiter told when a read of the source brought bytes:
// the stream is awake again, and its reader about to pass them on.
type AfterWaiter interface{ AfterWait() }

// SourceEOF reports whether a read of the source returned io.EOF: the
// source is used up.
func (r *Reader) SourceEOF() bool { return r.rerr == io.EOF }

// SetMaxEventSize sets the size limit of one event in bytes: the sum of
// the lengths of its lines, without their ends.
func (r *Reader) SetMaxEventSize(n int) { r.max = n }

// SetNames gives r the event names its stream is expected to send (a
// dialect's, from a slice it keeps): an event named one of them is
// dispatched with that string, where any other new name is made a string
// of its own (an allocation). Names are looked for in order, so the
// commonest come first.
func (r *Reader) SetNames(names []string) { r.names = names }

// LastID is the stream's last event id so far.
func (r *Reader) LastID() string {
	if r.idDirty {
		if r.idShort {
			r.idStr = string(r.idBuf[:r.idLen])
		} else {
			r.idStr = string(r.id)
		}
		r.idDirty = false
	}
	return r.idStr
}

// Retry is the reconnection delay the stream asked for so far, or 0.
func (r *Reader) Retry() time.Duration { return r.retry }

// Next returns the next event. At the end of the stream it returns io.EOF
// (an unterminated event is dropped); other errors are the underlying
// reader's, or ErrTooLong. Every error ends the stream: later calls
// return it again.
func (r *Reader) Next() (Event, error) {
	ev, err := r.NextRaw()
	if err != nil {
		return Event{}, err
	}
	return Event{ID: r.LastID(), Event: ev.Event, Data: string(ev.Data), Retry: ev.Retry}, nil
}

// NextRaw is Next without copying the data: see RawEvent.
//
// Its body is the common case only: lines whole in the buffer before any
// CR (blank, a repeated event name, a short id, the first data line), and
// a read when the buffer is used up. Everything else (the stream's start
// and end, errors, other fields, lines across reads or after a CR) is in
// functions of their own, so that the code a token runs stays in few
// instruction-cache lines (docs/benchmarks.md, issue 13, icache session).
func (r *Reader) NextRaw() (ev RawEvent, err error) {
	if r.err != nil || !r.started {
		if err = r.begin(); err != nil {
			return RawEvent{}, err
		}
	}
	var st eventState
	r.inPlace = false
	for {
		// Lines whole in the buffer before any CR are taken here, in a
		// loop over locals (r.r is written back once it stops); fill and
		// slowLine take the rest.
		if r.crLazy {
			r.knownCR()
		}
		if end := r.cr; end > r.r && !r.skipLF {
			buf, pos := r.buf[:end], r.r
			for pos < len(buf) {
				rest := buf[pos:]
				var i int
				switch {
				case rest[0] == '\n':
					i = 0 // a blank line: no scan
				case len(rest) > 7+len(r.name) && string(rest[:7]) == "event: " &&
					string(rest[7:7+len(r.name)]) == r.name && rest[7+len(r.name)] == '\n':
					// The last event's name again (an upstream names
					// every token's event alike): its end is known
					// without a scan.
					if st.size += 7 + len(r.name); st.size > r.max {
						return r.failed(ErrTooLong)
					}
					st.named = true
					pos += 7 + len(r.name) + 1
					continue
				case len(rest) > 4 && string(rest[:4]) == "id: ":
					// An id (Runnel's own streams send one an event) is
					// a few bytes: its end (and any NUL, for which it is
					// ignored) found in one loop over them.
					nul := false
					for i = 4; i < len(rest) && i < 4+maxShortID && rest[i] != '\n'; i++ {
						nul = nul || rest[i] == 0
					}
					if i == len(rest) || rest[i] != '\n' {
						i = bytes.IndexByte(rest, '\n')
						break
					}
					if st.size += i; st.size > r.max {
						return r.failed(ErrTooLong)
					}
					if !nul {
						// Into an array of the Reader's: no slice
						// (nor its write barrier) to store.
						r.idLen, r.idShort, r.idDirty = copy(r.idBuf[:], rest[4:i]), true, true
					}
					pos += i + 1
					continue
				default:
					i = bytes.IndexByte(rest, '\n')
				}
				if i < 0 {
					break
				}
				line := rest[:i]
				pos += i + 1
				if i == 0 {
					if !st.hasData {
						st = eventState{}
						continue
					}
					r.r = pos
					// The event the blank line dispatches, built in
					// the results (dispatch's copy was a hot line).
					ev.Data, ev.Retry, ev.Event = r.data, st.retry, r.eventName(st.named)
					return ev, nil
				}
				if st.size += i; st.size > r.max {
					return r.failed(ErrTooLong)
				}
				// The fields an upstream sends, as they send them: one
				// compare of the name, colon and space.
				if len(line) >= 6 && string(line[:6]) == "data: " && !st.hasData {
					r.data, r.inPlace, st.hasData = line[6:], true, true
					continue
				}
				r.fastField(line, &st)
			}
			r.r = pos
		}
		if r.r == r.w {
			// All read: an upstream's events come a read each.
			if err := r.fill(); err != nil {
				return r.failed(err)
			}
			continue
		}
		if ev, ok, err := r.slowLine(&st); ok || err != nil {
			return ev, err
		}
	}
}

// Shape is an event a token path reads with NextShaped: its lines but
// for one run of its data, as an event the stream sent before had them
// (one data line, after an event line naming it or none; an id line
// before them may differ). The zero Shape takes nothing.
type Shape struct {
	lit  []byte // the lines before the run, then those after it with the blank line
	cut  int    // where the run goes in lit
	data int    // where the data line's value begins in lit
	lfs  int    // how many line ends lit holds
	end  int    // where the event's lines end in lit
	// opt is the length of the optional member's opening (SetOptional),
	// in lit after end, then its closing quote, the end and line ends;
	// tail is then the data's tail without its end. Ints, not slices: a
	// Shape lives in every open stream.
	opt int
	ends
}

// ends is a Shape's lit in its two parts, the head before the run and the
// tail after it: NextShaped's (cutting lit took some 18 instructions a
// token), as matchPlain takes them.
type ends struct{ head, tail []byte }

// Buffer makes s keep its bytes in buf while they fit (an array of the
// stream's own: no allocation).
func (s *Shape) Buffer(buf []byte) { s.lit = buf[:0] }

// Set makes s the event named name (none when empty) whose data is head,
// a run, then tail. None of them may hold a CR or LF: else s takes
// nothing.
func (s *Shape) Set(name string, head, tail []byte) { s.SetOptional(name, head, tail, nil, nil) }

// SetOptional is Set for data head, a run, tail then end, whose events
// may also have, between tail and end, opt, a JSON-plain run (one byte
// or more) and a quote: a last member whose string changes every event
// (OpenAI's obfuscation, opt `,"obfuscation":"`), which NextShaped
// takes and does not return. With no opt it is Set of tail and end.
func (s *Shape) SetOptional(name string, head, tail, end, opt []byte) {
	s.Reset()
	if strings.IndexByte(name, '\n') >= 0 || strings.IndexByte(name, '\r') >= 0 ||
		lineEnd(head) < len(head) || lineEnd(tail) < len(tail) ||
		len(end)+len(opt) > 0 && (lineEnd(end) < len(end) || lineEnd(opt) < len(opt)) {
		return
	}
	lit := s.lit[:0]
	n := len(name) + len(head) + len(tail) + len(end) + 16
	if len(opt) > 0 {
		n += len(opt) + len(end) + 3
	}
	if cap(lit) < n { // once: not a growth a piece
		lit = make([]byte, 0, n)
	}
	s.lfs = 2
	if name != "" {
		lit = append(append(append(lit, "event: "...), name...), '\n')
		s.lfs++
	}
	lit = append(lit, "data: "...)
	s.data = len(lit)
	lit = append(lit, head...)
	s.cut = len(lit)
	lit = append(append(append(lit, tail...), end...), "\n\n"...)
	s.end = len(lit)
	s.tail = lit[s.cut:]
	if len(opt) > 0 {
		lit = append(append(append(append(lit, opt...), '"'), end...), "\n\n"...)
		s.tail, s.opt = lit[s.cut:s.cut+len(tail)], len(opt)
	}
	s.lit, s.head = lit, lit[:s.cut]
}

// Reset makes s take nothing.
func (s *Shape) Reset() {
	s.lit, s.cut, s.data, s.end, s.opt, s.head, s.tail = s.lit[:0], 0, 0, 0, 0, nil, nil
}

// Optional is SetOptional's opt (none for Set).
func (s *Shape) Optional() []byte { return s.lit[s.end : s.end+s.opt] }

// Has reports whether s takes an event.
func (s *Shape) Has() bool { return len(s.lit) > 0 }

// Prefetch brings the bytes the shape compares an event with into the
// cache (package prefetch): a stream's own, cold by its next token.
func (s *Shape) Prefetch() {
	prefetch.Range(unsafe.Pointer(unsafe.SliceData(s.lit)), uintptr(len(s.lit)))
}

// Data is the data s takes: the bytes before the run and after it.
func (s *Shape) Data() (head, tail []byte) {
	if len(s.lit) == 0 {
		return nil, nil
	}
	return s.lit[s.data:s.cut], s.lit[s.cut : s.end-2]
}

// member is the end of an event of s with the optional member whose
// tail ends at k in b: past the member and last when they follow, else
// past last; -1 when neither does. The member's first byte is tested
// first: with it, last's compare (a call) is left to a miss.
func (s *Shape) member(b []byte, k int) int {
	opt, optTail := s.lit[s.end:s.end+s.opt], s.lit[s.end+s.opt:]
	if from := k + len(opt); len(b) >= from && b[k] == opt[0] {
		if j := matchPlain(b, k, &ends{opt, optTail}); j >= 0 { // the member's string
			return j + len(optTail)
		}
	}
	if last := s.lit[s.cut+len(s.tail) : s.end]; len(b) >= k+len(last) && string(b[k:k+len(last)]) == string(last) {
		return k + len(last)
	}
	return -1
}

// NextShaped is NextRaw for the commonest event of a token path: an
// event of sh (a short id line first, with its event whole in the buffer
// and maxShortID bytes after "id: ", or none; no NUL in it) whose run is
// one or more bytes that run holds (no CR nor LF among them; with a nil
// run, JSON-plain bytes: printable ASCII but the quote and the backslash,
// found 16 a step), whole in the
// buffer (after a read, when the buffer is used up). It returns the run,
// a view of the buffer valid until the next call. Each byte it takes is
// checked once, against sh's bytes or run, with no search for line ends
// (nor for CR in what fill read: knownCR), where NextData's were three
// passes over an event (docs/benchmarks.md, issue 13, readside session).
// When ok is false it took nothing (it may have read into the buffer):
// NextRaw returns the next event or the error.
func (r *Reader) NextShaped(sh *Shape, run *[256]bool) (_ []byte, ok bool) {
	if r.err != nil || !r.started || r.skipLF || len(sh.lit) == 0 {
		return nil, false
	}
	r.inPlace = false // the last event's data is not kept (see RawEvent)
	if r.r == r.w {
		// All taken (an upstream's events come a read each): fill's
		// move done here, where it has nothing to move nor keep (cr is
		// at most w: fill's max(cr-r, 0) is 0), some 17 instructions a
		// token less.
		r.r, r.w, r.cr = 0, 0, 0
		if r.fillEmpty() != nil {
			return nil, false
		}
	}
	// buf[r:w] without its bounds checks (0 <= r <= w <= len(buf), and
	// bufp is set while err is nil): some 10 instructions a token.
	b := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(r.bufp), r.r)), r.w-r.r)
	idEnd, i := 0, 0 // the id line's LF, if there is one; where sh's lines begin
	// An id line is taken with the bytes after it up to maxShortID (see
	// took): an event with one is left to NextRaw while fewer are read
	// (it then cannot be sh's, whose lines are longer).
	if len(b) >= 4+maxShortID && string(b[:4]) == "id: " {
		if idEnd = shortID(b); idEnd < 0 {
			return nil, false
		}
		i = idEnd + 1
	}
	if run != nil || sh.opt > 0 {
		return r.shapedAside(b, sh, run, i, idEnd)
	}
	// A token's text, its shape with no optional member: the rest of the
	// work in a short run of code that keeps little but r and sh across
	// the match (docs/benchmarks.md, issue 13, tokfoot and tokfoot2
	// sessions).
	j := matchPlain(b, i, &sh.ends) // the run's end, -1 when the event is not of sh
	end := j + len(sh.tail)
	// The lines' lengths, without their ends, as NextRaw's limit counts
	// them.
	if j < 0 || end-i-sh.lfs+idEnd > r.max {
		return nil, false
	}
	// The run, b[i+len(sh.head):j], with b's start again from r's fields
	// (not kept across the match), and without unsafe.Slice's checks of a
	// length the match never returns.
	p, from := unsafe.Add(unsafe.Pointer(r.bufp), r.r), i+len(sh.head)
	v := struct {
		p      unsafe.Pointer
		n, cap int
	}{unsafe.Add(p, from), j - from, j - from}
	r.took(p, idEnd, end)
	return *(*[]byte)(unsafe.Pointer(&v)), true
}

// shapedAside is NextShaped's rest, from the start of sh's lines at i in
// b (after an id line that ends at idEnd, or none), for a run of run's
// bytes or a shape with an optional member (out of line: a token's
// text has neither).
//
//go:noinline
func (r *Reader) shapedAside(b []byte, sh *Shape, run *[256]bool, i, idEnd int) ([]byte, bool) {
	head, tail := sh.head, sh.tail
	from := i + len(head)
	if len(b) < from {
		return nil, false
	}
	var j int // the run's end, -1 when the event is not of sh
	if run == nil {
		j = matchPlain(b, i, &sh.ends) // a token's text
	} else {
		j = matchRun(b, i, from, head, tail, run)
	}
	end := j + len(tail)
	if sh.opt > 0 && j >= 0 { // what follows tail (SetOptional)
		if end = sh.member(b, end); end < 0 {
			j = -1
		}
	}
	if j < 0 || end-i-sh.lfs+idEnd > r.max {
		return nil, false
	}
	r.took(unsafe.Pointer(unsafe.SliceData(b)), idEnd, end)
	return b[from:j], true
}

// took ends NextShaped's event, the first end bytes of the unread bytes
// at b, keeping its id, whose line ends at idEnd (none when 0; else b
// holds maxShortID bytes after "id: ").
func (r *Reader) took(b unsafe.Pointer, idEnd, end int) {
	if idEnd > 0 {
		// The id and what follows it, as one array (b holds it: see
		// NextShaped): a few moves, where a loop took some 40
		// instructions for a few digits (idBuf holds the id in its
		// first idLen).
		r.idBuf = *(*[maxShortID]byte)(unsafe.Add(b, 4))
		r.idLen, r.idShort, r.idDirty = idEnd-4, true, true
	}
	r.r += end
}

// matchRun is matchPlain for the run's bytes in run: the end of the
// run at b[from:] when it is not empty, the tail follows it whole and b
// holds head at i and tail after the run; else -1.
func matchRun(b []byte, i, from int, head, tail []byte, run *[256]bool) int {
	j := from
	// run's nil check once, not in every pass of the loop (the compiler
	// keeps it there otherwise).
	for t := run[:]; j < len(b) && t[b[j]]; {
		j++
	}
	// Head and tail compared last, in one call (equalPair).
	if j == from || len(b) < j+len(tail) || !equalPair(b[i:], head, b[j:], tail) {
		return -1
	}
	return j
}

// matchPlainGo is matchPlain without assembly.
func matchPlainGo(b []byte, i, from int, head, tail []byte) int {
	j := from
	for j < len(b) && ' ' <= b[j] && b[j] <= 0x7f && b[j] != '"' && b[j] != '\\' {
		j++
	}
	if j == from || len(b) < j+len(tail) || !equalPairGo(b[i:], head, b[j:], tail) {
		return -1
	}
	return j
}

// equalPairGo is equalPair without assembly (out of line: equalPair
// stays inlined in NextShaped).
//
//go:noinline
func equalPairGo(a, x, b, y []byte) bool {
	return string(a[:len(x)]) == string(x) && string(b[:len(y)]) == string(y)
}

// shortID is the end of the id line at the start of b (its LF), when it
// is short and holds no NUL nor CR; else -1.
func shortID(b []byte) int {
	for i := 4; i < len(b) && i < 4+maxShortID; i++ {
		switch b[i] {
		case '\n':
			return i
		case 0, '\r':
			return -1
		}
	}
	return -1
}

// eventState is what NextRaw knows of the event it reads so far.
type eventState struct {
	hasData, named bool
	retry          time.Duration
	size           int // the sum of its lines' lengths
}

// begin is NextRaw's start when the stream ended or the BOM is still to
// be checked: the sticky error, or nil.
//
//go:noinline
func (r *Reader) begin() error {
	if r.err != nil {
		return r.err
	}
	r.bom()
	return nil
}

// fastField takes a line NextRaw found whole in the buffer, not blank and
// not the event's first data line nor a repeated event name.
//
//go:noinline
func (r *Reader) fastField(line []byte, st *eventState) {
	switch {
	case len(line) >= 4 && string(line[:4]) == "id: ":
		if bytes.IndexByte(line[4:], 0) < 0 {
			r.id, r.idShort, r.idDirty = append(r.id[:0], line[4:]...), false, true
		}
	case len(line) >= 7 && string(line[:7]) == "event: ":
		r.setName(line[7:])
		st.named = true
	default:
		r.field(line, &st.hasData, &st.named, &st.retry, false)
	}
}

// slowLine takes the next line the fast loop did not: one that crosses
// the buffer's end or meets a CR. ok reports an event dispatched.
//
//go:noinline
func (r *Reader) slowLine(st *eventState) (ev RawEvent, ok bool, err error) {
	line, joined, err := r.nextLine()
	if err != nil {
		return RawEvent{}, false, r.fail(err)
	}
	if len(line) == 0 {
		if !st.hasData {
			*st = eventState{}
			return RawEvent{}, false, nil
		}
		return r.dispatch(st.named, st.retry), true, nil
	}
	if st.size += len(line); st.size > r.max {
		return RawEvent{}, false, r.fail(ErrTooLong)
	}
	r.field(line, &st.hasData, &st.named, &st.retry, joined)
	return RawEvent{}, false, nil
}

// maxShortID is the longest id the fast path scans for its end by hand.
const maxShortID = 24

// setName makes v the last event type seen: the last one again, one of
// SetNames', or a string made of it.
func (r *Reader) setName(v []byte) {
	if string(v) == r.name {
		return
	}
	for _, n := range r.names {
		if string(v) == n {
			r.name = n
			return
		}
	}
	r.name = string(v)
}

// eventName is the type of the event being dispatched.
func (r *Reader) eventName(named bool) string {
	if named && r.name != "" {
		return r.name
	}
	return "message"
}

// dispatch is the event the blank line that ends it dispatches.
func (r *Reader) dispatch(named bool, retry time.Duration) RawEvent {
	return RawEvent{Event: r.eventName(named), Data: r.data, Retry: retry}
}

// field takes one line of the event (not blank): its field is known by
// its first bytes, the value following a colon right after the name, or
// the line being the name alone.
func (r *Reader) field(line []byte, hasData, named *bool, retry *time.Duration, joined bool) {
	switch line[0] {
	case 'd':
		if v, ok := value(line, "data"); ok {
			r.addData(v, !*hasData, joined)
			*hasData = true
		}
	case 'i':
		if v, ok := value(line, "id"); ok && bytes.IndexByte(v, 0) < 0 {
			r.id, r.idShort, r.idDirty = append(r.id[:0], v...), false, true
		}
	case 'e':
		if v, ok := value(line, "event"); ok {
			r.setName(v)
			*named = true
		}
	case 'r':
		if v, ok := value(line, "retry"); ok {
			if ms, ok := digits(v); ok {
				*retry = time.Duration(ms) * time.Millisecond
				r.retry = *retry
			}
		}
	}
}

// value is the value of line's field if the field is name: what follows
// the colon after name (less one space), or nothing when line is name
// alone.
func value(line []byte, name string) ([]byte, bool) {
	n := len(name)
	if len(line) < n || string(line[:n]) != name {
		return nil, false
	}
	if len(line) == n {
		return line[n:], true
	}
	if line[n] != ':' {
		return nil, false
	}
	v := line[n+1:]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return v, true
}

// addData adds a data line's value to the event's data: the first in
// place when its line is (not joined in r.line), the others joined in
// r.own.
func (r *Reader) addData(v []byte, first, joined bool) {
	if first {
		if !joined {
			r.data, r.inPlace = v, true
			return
		}
		r.own = append(r.own[:0], v...)
	} else {
		r.keepData()
		r.own = append(r.own, '\n')
		r.own = append(r.own, v...)
	}
	r.data = r.own
}

// keepData copies data that is in place into r.own, before the buffer
// moves.
func (r *Reader) keepData() {
	if r.inPlace {
		r.own = append(r.own[:0], r.data...)
		r.data, r.inPlace = r.own, false
	}
}

// bom drops a leading byte order mark, reading until it knows.
func (r *Reader) bom() {
	const bom = "\ufeff"
	for r.w-r.r < len(bom) && bytes.HasPrefix([]byte(bom), r.buf[r.r:r.w]) {
		if r.fill() != nil {
			break
		}
	}
	if bytes.HasPrefix(r.buf[r.r:r.w], []byte(bom)) {
		r.r += len(bom)
	}
	r.started = true
}

// nextLine returns the next line without its end: in place in the buffer
// when it is whole there (valid until the buffer moves, in fill), else
// joined in r.line. A last line the stream ends before its end is not
// returned: the spec drops it.
func (r *Reader) nextLine() (line []byte, joined bool, err error) {
	r.line = r.line[:0]
	for {
		if r.skipLF && r.r < r.w {
			r.skipLF = false
			if r.buf[r.r] == '\n' {
				r.r++
			}
		}
		if r.cr < r.r || r.crLazy {
			r.findCR(r.r)
		}
		b := r.buf[r.r:r.cr]
		i := bytes.IndexByte(b, '\n')
		if i < 0 && r.cr < r.w {
			i, r.skipLF = len(b), true // the line ends with the CR
		}
		if i >= 0 {
			if len(r.line)+i > r.max {
				return nil, false, ErrTooLong
			}
			r.r += i + 1
			if len(r.line) == 0 {
				return b[:i], false, nil
			}
			r.line = append(r.line, b[:i]...)
			return r.line, true, nil
		}
		// No line end is buffered: keep what is, read more.
		if len(r.line)+len(b) > r.max {
			return nil, false, ErrTooLong
		}
		if r.r == 0 && r.w == len(r.buf) {
			r.keepData()
			r.line = append(r.line, b...)
			r.r, r.w, r.cr = 0, 0, 0
		}
		if err := r.fill(); err != nil {
			return nil, false, err
		}
	}
}

// findCR sets r.cr to the first CR in buf[from:w].
func (r *Reader) findCR(from int) {
	r.cr, r.crLazy = r.w, false
	if j := bytes.IndexByte(r.buf[from:r.w], '\r'); j >= 0 {
		r.cr = from + j
	}
}

// knownCR searches what fill left unsearched for a CR (crLazy).
//
//go:noinline
func (r *Reader) knownCR() { r.findCR(max(r.cr, r.r)) }

// errNegativeRead is a source's answer to Read out of its contract.
var errNegativeRead = errors.New("sse: source returned an impossible count from Read")

// fill moves the unread bytes to the front of the buffer and reads once
// more after them.
func (r *Reader) fill() error {
	if r.rerr != nil {
		return r.rerr
	}
	if r.r > 0 {
		r.keepData()
		n := 0
		if r.r < r.w {
			n = copy(r.buf, r.buf[r.r:r.w])
		}
		r.cr = max(r.cr-r.r, 0)
		r.r, r.w = 0, n
	}
	from := r.w
	for range 100 {
		if r.before != nil {
			r.before.BeforeWait()
		}
		n, err := r.src.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			err, n = errNegativeRead, 0
		}
		r.w += n
		if err != nil {
			r.rerr = err
		}
		if n > 0 && r.after != nil {
			r.after.AfterWait()
		}
		if n > 0 || err != nil {
			break
		}
	}
	if r.w == from {
		if r.rerr == nil {
			r.rerr = io.ErrNoProgress
		}
		return r.rerr
	}
	if r.cr >= from { // no CR before from: what came is to be searched
		r.cr, r.crLazy = from, true
	}
	return nil
}

// fillEmpty is fill for NextShaped's empty buffer (r, w and cr at 0):
// one read, its common outcome (some bytes, no error) in a few lines,
// the rest as fill would have it (filled).
func (r *Reader) fillEmpty() error {
	if r.rerr != nil {
		return r.rerr
	}
	if r.before != nil {
		r.before.BeforeWait()
	}
	n, err := r.src.Read(r.buf)
	if n > 0 && n <= len(r.buf) && err == nil {
		if r.after != nil {
			r.after.AfterWait()
		}
		r.w, r.cr, r.crLazy = n, 0, true // what came is to be searched
		return nil
	}
	return r.filled(n, err)
}

// filled is fill's end after fillEmpty's read returned n and err, when
// that is not some bytes without an error.
//
//go:noinline
func (r *Reader) filled(n int, err error) error {
	if n < 0 || n > len(r.buf) {
		err, n = errNegativeRead, 0
	}
	if n == 0 && err == nil {
		return r.fill() // no progress: fill reads again
	}
	r.w = n
	if err != nil {
		r.rerr = err
	}
	if n == 0 {
		return r.rerr
	}
	r.cr, r.crLazy = 0, true
	return nil
}

// failed is NextRaw's return on an error (out of line: fail inlined at
// each of NextRaw's returns took hot code's lines apart).
//
//go:noinline
func (r *Reader) failed(err error) (RawEvent, error) { return RawEvent{}, r.fail(err) }

// fail ends the stream on an error: the end of the source (or an
// unterminated last line) is io.EOF.
func (r *Reader) fail(err error) error {
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	r.release(err)
	return r.err
}

// Release returns the Reader's buffer to the pool when the Reader is done
// with the stream, so the next Reader reuses it; Next then returns io.EOF.
// A Reader that read to the end of its stream releases it by itself.
func (r *Reader) Release() { r.release(io.EOF) }

func (r *Reader) release(err error) {
	if r.err == nil {
		r.err = err
	}
	if r.bufp != nil {
		readerPool.Put(r.bufp)
		r.bufp, r.buf, r.src, r.before = nil, nil, nil, nil
		r.r, r.w, r.cr, r.crLazy = 0, 0, 0, false
		r.data, r.inPlace = nil, false
	}
}

// digits parses a non-empty run of ASCII digits.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > int64(time.Duration(1<<63-1)/time.Millisecond) {
		return 0, false
	}
	return n, true
}

// lineEnd is the index of the first CR or LF in b, or len(b). Two
// IndexByte scans beat one IndexAny: lines rarely hold a CR.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		i = len(b)
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
