// Package sse writes and reads Server-Sent Events (text/event-stream).
//
// Writer flushes every event as it is written, numbers events with an id a
// reconnecting client can resume from, and sends keep-alive comments during
// long silences. Reader parses a stream by the WHATWG rules.
package sse

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/runnel/runnel/internal/jsonstr"
	"github.com/runnel/runnel/internal/prefetch"
)

// DefaultKeepAlive is how long a Writer stays silent before it sends a
// keep-alive comment.
const DefaultKeepAlive = 15 * time.Second

// Options configure a Writer.
type Options struct {
	// KeepAlive is the silence after which a ": keep-alive" comment is
	// sent; 0 means DefaultKeepAlive and a negative value none.
	KeepAlive time.Duration
	// LastID is the id of the last event the client already has (from its
	// Last-Event-ID header): the first event gets LastID+1.
	LastID uint64
	// Retry, when positive, is sent first as the client's reconnection
	// delay.
	Retry time.Duration
	// OmitIDs leaves out the id: lines, for dialects whose clients never
	// resume: OpenAI's streams carry none, and go-openai takes every
	// non-data line for part of a later error body, losing its message.
	OmitIDs bool
	// IDPrefix goes before every event's number, for ids that name their
	// stream: "rs_…-" gives "rs_…-1", "rs_…-2"…
	IDPrefix string
	// DeferFlush makes Send keep events until Flush (or a keep-alive, or
	// Close) instead of flushing each: for a caller that flushes whenever
	// its source is about to wait (stream.BeforeWait), so that events that
	// arrived together leave in one write and none is held back. The
	// headers leave with the first events, as a proxy's do, but wait no
	// longer than HeaderGrace after a Flush that found no event. The
	// caller flushes at once after the events of its first token, which
	// should never wait for coalescing. The caller's goroutine is then the
	// only one to call the Writer (the keep-alives' aside): SendText may
	// keep the lock for the Flush that follows it.
	DeferFlush bool
}

// Clock is where a stream's source keeps the time at which its latest
// event came, as it read the clock for it (a gateway.Call's EventClock),
// since the start given to SetClock. A variable read in place, not a
// method: an interface call less a token's flush (docs/benchmarks.md,
// issue 13, locks session).
type Clock = *time.Duration

// SetClock makes the Writer take c's reading of a newer event than the
// last write's as the time of the write that follows it, the keep-alives'
// silence counting from there, instead of reading the clock a second time
// for the same token; a write after no newer event (the headers, a last
// event made of none) reads the clock. Only for a Writer written on the
// goroutine that reads the source, just after each event it reads.
//
// A method, not an Options field: Options is passed by value in the
// frames under every stream's first flush (see writeHeaded).
func (w *Writer) SetClock(c Clock, start time.Time) {
	w.lock()
	defer w.unlock()
	w.last += w.base.Sub(start)
	w.base, w.clock = start, c
}

// HeaderGrace is how long a DeferFlush Writer's headers wait for the first
// event once its source waits: an upstream usually sends its first token
// just after its own headers, and both then leave in one write; a slow
// first token still finds the client with the headers.
const HeaderGrace = time.Millisecond

// Log takes the events of a Writer made by NewLogWriter: event number id,
// encoded. Append must copy frame, which the Writer reuses.
type Log interface {
	Append(id uint64, frame []byte) error
}

// Writer writes events to an HTTP response. It is safe for concurrent use
// (but with Options.DeferFlush, one goroutine's): its own keep-alive timer
// writes through the same lock. Close it before the
// handler returns (the server's access log counts its bytes at Close).
type Writer struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	fl  flusher
	log Log // instead of w, for NewLogWriter
	buf []byte
	// sent counts the bytes w took, for counted (see targetsOf), which
	// Close adds them to.
	sent int64
	bufp *[]byte // buf's pool entry
	id   uint64
	// idLine is "id: ", the prefix and id in decimal, and LF: the last
	// event's id line, counted up in place (appendID) rather than encoded
	// for each event.
	idLine   []byte
	idDigits int      // where idLine's digits begin; 0 before the first
	name     string   // the last event name, known to hold no line break
	nameLine []byte   // its event: line: names' or in ownLine
	names    *Names   // SetNames'
	nameAt   int      // the last name's index in names, where the next look begins
	ownLine  []byte   // the line of a name not in names
	idArr    [24]byte // idLine's storage, but for long prefixes
	err      error    // the first write error; every later call returns it
	closed   bool
	headed   bool  // the headers were flushed
	idLast   uint8 // idLine's last digit's index when it is in idArr, else 0 (in padding)

	omitIDs bool
	// idRoom is the most the next id line may take: its last length and
	// a digit more (a carry); before the first, the longest; 0 without
	// ids. SendText's common event is written only with room for it.
	idRoom   uint32
	idPrefix string
	deferred bool // Options.DeferFlush: buf may hold unflushed events
	// quiet is deferred on a usable Writer without a log: SendAppend's
	// event is only appended. Cleared with closed and err.
	quiet  bool
	unsent bool // the headers are not flushed yet (deferred only)
	// held says SendText kept mu, for the Flush (or any other call) that
	// follows on the same goroutine: a token's send and flush are one
	// lock and unlock, not two (docs/benchmarks.md, issue 13, locks
	// session). Set only on a quiet Writer, whose sends come from one
	// goroutine (Options.DeferFlush), which alone reads it; between the
	// send and the Flush before its source's wait that goroutine runs, and
	// the keep-alives, whose walk does not wait for mu, lose nothing.
	held bool
	// linesN and linesAt are the last TextEvent's Lines, for Prefetch: a
	// stream's own bytes, cold by its next token. An address, not a
	// pointer: no write barrier a token, and a prefetch of memory gone
	// since is harmless.
	linesN    uint32
	linesAt   uintptr
	keepAlive time.Duration
	// timer runs tick: the keep-alives, and the unsent headers'
	// HeaderGrace while grace is set. One timer (and one closure) a
	// stream, not one for each.
	timer *time.Timer
	grace bool
	base  time.Time
	last  time.Duration // since base, of the last write
	// clock is SetClock's, and stamp its reading the last write took;
	// ticking is set while tick writes, which reads the clock itself.
	clock   Clock
	stamp   time.Duration
	ticking bool
	// kaGoing is set from a Keeper's walk until the keep-alive it started
	// on a goroutine of its own has the lock (see Keeper.fire).
	kaGoing bool

	// keeper, when the Writer is a Keeper's, runs its keep-alives and
	// grace instead of timer; the links and the grace's deadline are
	// guarded by keeper.mu.
	keeper  *Keeper
	kl, gl  links
	gat     time.Duration
	counted *int64
}

// The values of every stream's response headers are shared, which spares
// four allocations per stream: each has its length as its capacity, so a
// handler that adds to one gets a copy. They are set one by one, not
// copied from a map: a map's iteration costs more than the four stores.
var (
	eventStream = []string{"text/event-stream"}
	noCache     = []string{"no-cache"}
	no          = []string{"no"}
	keepAlive   = []string{"keep-alive"}
)

// ErrClosed is returned by a Writer used after Close.
var ErrClosed = errors.New("sse: writer closed")

// NewWriter sets the event-stream headers on w, sends them with a 200
// status (with Options.DeferFlush, with the first event or HeaderGrace
// after the first Flush) and returns a Writer for the body.
func NewWriter(w http.ResponseWriter, o Options) *Writer {
	return newWriter(w, o, nil)
}

// newWriter is NewWriter, its timers k's if k is not nil.
func newWriter(w http.ResponseWriter, o Options, k *Keeper) *Writer {
	sw := new(Writer)
	sw.open(w, o, k)
	return sw
}

// open is newWriter's work on sw, a zero Writer no other goroutine can
// reach yet.
func (sw *Writer) open(w http.ResponseWriter, o Options, k *Keeper) {
	h := w.Header()
	h["Content-Type"] = eventStream
	h["Cache-Control"] = noCache
	h["X-Accel-Buffering"] = no
	h["Connection"] = keepAlive
	// Field by field: a composite literal would be a Writer-sized
	// temporary in this frame, which is under the first flush of a
	// Writer that does not defer it (see writeHeaded).
	sw.id, sw.omitIDs, sw.idPrefix = o.LastID, o.OmitIDs, o.IDPrefix
	if !o.OmitIDs {
		sw.idRoom = roomOf(len("id: \n") + len(o.IDPrefix) + 20) // 20: a uint64's digits
	}
	sw.deferred, sw.bufp, sw.base, sw.keeper = o.DeferFlush, bufPool.Get().(*[]byte), time.Now(), k
	w.WriteHeader(http.StatusOK)
	sw.targetsOf(w) // after WriteHeader, by which a recorder knows its targets
	sw.buf = (*sw.bufp)[:0]
	sw.mu.Lock()
	if o.Retry > 0 {
		sw.buf = append(sw.buf, "retry: "...)
		sw.buf = strconv.AppendInt(sw.buf, o.Retry.Milliseconds(), 10)
		sw.buf = append(sw.buf, "\n\n"...)
	}
	if sw.deferred {
		sw.unsent, sw.quiet = true, true
	} else {
		sw.flush()
	}
	sw.keepAlive = o.KeepAlive
	if sw.keepAlive == 0 {
		sw.keepAlive = DefaultKeepAlive
	}
	if sw.keepAlive > 0 {
		if k != nil {
			k.add(sw)
		} else {
			sw.timer = time.AfterFunc(sw.keepAlive, sw.tick) // tick waits for mu
		}
	}
	sw.mu.Unlock()
}

// NewLogWriter returns a Writer that hands every event to l instead of an
// HTTP response: the producing side of a resumable stream, whose clients
// replay the log with WriteFrame. It always writes ids, never keep-alives
// (the clients' Writers send those) and drops comments.
func NewLogWriter(l Log, o Options) *Writer {
	return &Writer{log: l, id: o.LastID, idPrefix: o.IDPrefix, buf: make([]byte, 0, 512), base: time.Now()}
}

// WriteFrame writes an event already encoded by a Writer (a log frame,
// carrying its own id) and flushes it.
func (w *Writer) WriteFrame(frame []byte) error {
	w.lock()
	defer w.unlock()
	if err := w.usable(); err != nil {
		return err
	}
	w.buf = append(w.buf, frame...)
	return w.flush()
}

// Send writes one event with the next id and flushes it. event may be empty
// (no event: line, which readers take as "message"). Line breaks in data
// (LF, CR or CRLF) split it into several data: lines, which readers join
// with LF. It allocates nothing once its buffer has grown to the event size.
func (w *Writer) Send(event string, data []byte) error {
	return w.send(event, data, false)
}

// SendLine is Send for data its caller knows holds no line break (no LF,
// no CR): JSON an encoder wrote without raw whitespace, its strings
// escaped. It writes one data: line without scanning data for breaks;
// data with one would split the event on the wire.
func (w *Writer) SendLine(event string, data []byte) error {
	return w.send(event, data, true)
}

func (w *Writer) send(event string, data []byte, oneLine bool) error {
	return w.SendAppend(event, func(b []byte) []byte {
		for {
			i := len(data)
			if !oneLine {
				i = lineEnd(data) // two vectorised scans, not a loop over every byte
			}
			b = append(b, data[:i]...)
			if i == len(data) {
				return b
			}
			if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			data = data[i+1:]
			b = append(b, "\ndata: "...) // the next line's
		}
	})
}

// SendAppend is SendLine for data that data appends to the buffer it is
// given (the Writer's own, locked) and returns: an encoder writes the
// event straight into the Writer, which then copies no data. data must
// append one line, with no LF or CR, and must not call the Writer.
//
// Every event goes through it. A stream's common event (quiet: usable,
// kept until Flush; the last name again) runs its few lines and no call
// but appendID's and data's (docs/benchmarks.md, issue 13, tokpath2
// session); anything else is checked by ready and flushed by flush.
func (w *Writer) SendAppend(event string, data func(b []byte) []byte) error {
	w.lock()
	if (!w.quiet || event != w.name) && !w.ready(event) {
		return w.refused(event)
	}
	defer w.unlock() // should data panic
	b := data(append(w.opened(event), "data: "...))
	w.buf = append(b, '\n', '\n')
	if w.quiet || w.deferred && w.log == nil {
		return nil
	}
	return w.flush()
}

// TextEvent is the fixed part of the events SendText writes: a token's
// event in a dialect, kept by its encoder. Its lines up to the text and
// its end are each made once, so that a token's event is its id line, two
// copies and the text (docs/benchmarks.md, issue 13, writepath session).
type TextEvent struct {
	Name string // the event's name; "" for none
	// Lines are the event's lines up to its text: TextLines(b, Name)'s
	// bytes, then the data before the text (no LF or CR).
	Lines []byte
	// End is the data after the text (no LF or CR), then "\n\n", the
	// blank line that ends the event.
	End string
}

// TextLines appends to b what a TextEvent's Lines begin with, for an
// event named name: its event: line (none for ""), then "data: ".
func TextLines(b []byte, name string) []byte {
	if name != "" {
		b = append(append(append(b, "event: "...), name...), '\n')
	}
	return append(b, "data: "...)
}

// NewTextEvent returns the TextEvent of an event named name whose data is
// head, the text and tail (neither with LF or CR).
func NewTextEvent(name string, head []byte, tail string) *TextEvent {
	return &TextEvent{Name: name, Lines: append(TextLines(nil, name), head...), End: tail + "\n\n"}
}

// errTextEvent is SendText's for a TextEvent too short to be TextLines'.
var errTextEvent = errors.New("sse: malformed TextEvent")

// SendText is SendAppend for an event named e.Name whose data is the
// rest of e.Lines, then text as a JSON string (jsonstr.Append: escaped as
// encoding/json does), then e.End's data. Its common event (quiet, the
// last name again, by its pointer, room in the buffer) runs no code but
// the Writer's and jsonstr's under mu, which cannot panic: no deferred
// unlock and no encoder's call (docs/benchmarks.md, issue 13, writeside
// session); anything else is SendAppend's. e is passed by reference, text by value: the arguments
// fit the registers.
func (w *Writer) SendText(e *TextEvent, text string) error {
	if !w.held {
		w.mu.Lock()
	}
	// With room for the next id line, e and a short text, nothing below
	// grows the buffer: the event is copied into it and only its length
	// is stored (no growth's code, no write barrier, in a token's code
	// lines: docs/benchmarks.md, issue 13, tokfoot session).
	if !w.quiet || !sameName(e.Name, w.name) ||
		cap(w.buf)-len(w.buf) < int(w.idRoom)+len(e.Lines)+jsonstr.ShortRoom+len(e.End) {
		return w.textAside(e, text)
	}
	b, ok := w.nextID(w.buf)
	if !ok {
		b = w.appendID(b)
	}
	// e.Lines hold the event: line of e.Name, w.name: nameLine's bytes.
	// Copied into the room checked above: no bounds to check.
	n := len(b)
	copy(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), n)), len(e.Lines)), e.Lines)
	if b, ok = jsonstr.AppendShort(b[:n+len(e.Lines)], text); !ok {
		w.longText(n+len(e.Lines), text, e.End)
		return nil
	}
	n = len(b)
	copy(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), n)), len(e.End)), e.End)
	w.buf = w.buf[:n+len(e.End)] // b is w.buf's array
	w.held = true                // until the Flush before the source's wait: see held
	w.linesAt, w.linesN = uintptr(unsafe.Pointer(unsafe.SliceData(e.Lines))), uint32(len(e.Lines))
	return nil
}

// roomOf is n as an idRoom (an id prefix of 2 GiB is none a Writer is
// given).
func roomOf(n int) uint32 { return uint32(min(n, math.MaxInt32)) }

// textAside is SendText but for its common event, mu held: another
// name or a writer not quiet (SendAppend's, unlocked), or too little
// room (appendText). One call out of line: the rare cases' code is no
// part of the lines a token runs (docs/benchmarks.md, issue 13,
// tokfoot2 session).
//
//go:noinline
func (w *Writer) textAside(e *TextEvent, text string) error {
	if !w.quiet || !sameName(e.Name, w.name) {
		w.unlock()
		return w.sendText(e, text)
	}
	w.appendText(e, text)
	return nil
}

// appendText is SendText's common event appended to w.buf, which grows
// if the event needs more room than it has (seldom).
func (w *Writer) appendText(e *TextEvent, text string) {
	b := append(w.appendID(w.buf), e.Lines...)
	w.buf = append(jsonstr.Append(b, text), e.End...)
	w.held = true
}

// longText ends SendText's event after its lines, which end at n in
// w.buf's array, with text that AppendShort does not write, then end.
//
//go:noinline
func (w *Writer) longText(n int, text, end string) {
	w.buf = append(jsonstr.Append(w.buf[:n], text), end...)
	w.held = true
}

// sameName is a == b for SendText's common event, by their pointers: a
// stream's names are the dialect's constants, given again (no memequal
// call in a token's code). Equal names elsewhere take SendText's other
// path, which compares their bytes.
func sameName(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

// sendText is SendText through SendAppend, out of line.
//
//go:noinline
func (w *Writer) sendText(e *TextEvent, text string) error {
	k := len("data: ")
	if e.Name != "" {
		k += len("event: \n") + len(e.Name)
	}
	if len(e.Lines) < k || len(e.End) < 2 {
		return errTextEvent
	}
	head, tail := e.Lines[k:], e.End[:len(e.End)-2]
	return w.SendAppend(e.Name, func(b []byte) []byte {
		return append(jsonstr.Append(append(b, head...), text), tail...)
	})
}

// opened numbers a new event and returns the buffer with its id and
// event lines appended. Called with mu held.
func (w *Writer) opened(event string) []byte {
	b := w.appendID(w.buf)
	if event != "" {
		b = append(b, w.nameLine...)
	}
	return b
}

// ready says whether the Writer can write an event named event now, a
// name it keeps the line of. Called with mu held.
//
//go:noinline
func (w *Writer) ready(event string) bool {
	if event != w.name && w.setName(event) != nil {
		return false
	}
	return w.usable() == nil
}

// refused unlocks mu, taken by SendAppend, and returns why ready refused
// event.
//
//go:noinline
func (w *Writer) refused(event string) error {
	defer w.unlock()
	if event != w.name {
		return w.setName(event)
	}
	return w.usable()
}

// setName checks a new event name and keeps its line (out of line: a
// stream's names seldom change).
//
//go:noinline
func (w *Writer) setName(event string) error {
	if n := w.names; n != nil {
		// From the name after the last one found: a stream's names come
		// in the order they are given, and this is then the first tried.
		i := w.nameAt
		for range n.names {
			if i++; i == len(n.names) {
				i = 0
			}
			if n.names[i] == event {
				w.name, w.nameLine, w.nameAt = event, n.lines[i], i
				return nil
			}
		}
	}
	if strings.IndexByte(event, '\n') >= 0 || strings.IndexByte(event, '\r') >= 0 { // ContainsAny builds a set per call
		return errors.New("sse: event name contains a line break")
	}
	w.name = event
	// One allocation for a stream's names, not one for each piece of the
	// first and for each longer name after it (Anthropic's are up to 19
	// bytes).
	if n := len("event: \n") + len(event); cap(w.ownLine) < n {
		w.ownLine = make([]byte, 0, max(n, 32))
	}
	w.ownLine = append(append(append(w.ownLine[:0], "event: "...), event...), '\n')
	w.nameLine = w.ownLine
	return nil
}

// Names are the event names a stream is expected to send, their lines
// made once (NewNames, for a dialect to keep): a Writer given them
// (SetNames) takes a change to one of them by a compare, where another
// name is checked for line breaks and its line copied.
type Names struct {
	names []string
	lines [][]byte
}

// NewNames returns the Names of names, in the order a stream sends them
// (a Writer looks for a name from the one after the last it found). A
// name with a line break is left out: the Writer refuses it as it would
// any other.
func NewNames(names ...string) *Names {
	n := new(Names)
	for _, name := range names {
		if strings.ContainsAny(name, "\r\n") {
			continue
		}
		n.names = append(n.names, name)
		n.lines = append(n.lines, []byte("event: "+name+"\n"))
	}
	return n
}

// SetNames gives w the names its stream is expected to send.
func (w *Writer) SetNames(n *Names) {
	w.lock()
	w.names, w.nameAt = n, -1
	w.unlock()
}

// appendID counts a new event, w.id, and appends its id line unless the
// Writer omits ids: nextID's common case, else the last id's decimal
// digits counted up in place, the line made afresh only for the first
// event or a carry into a new digit.
func (w *Writer) appendID(b []byte) []byte {
	if b, ok := w.nextID(b); ok {
		return b
	}
	w.id++
	if w.omitIDs {
		return b
	}
	l, d := w.idLine, w.idDigits
	if d > 0 {
		i := len(l) - 2 // the last digit
		for ; i >= d && l[i] == '9'; i-- {
			l[i] = '0'
		}
		if i >= d {
			l[i]++
			return append(b, l...)
		}
	}
	return append(b, w.newIDLine()...)
}

// nextID is appendID's common case, for SendText to inline (appendID is
// beyond the inliner's budget): the line in idArr, its last digit not a
// 9, room in b for the whole array, which is copied there, a few moves,
// with the digit counted up. Else it returns false, having done nothing.
func (w *Writer) nextID(b []byte) ([]byte, bool) {
	n, i := len(b), int(w.idLast)
	if i == 0 || i >= len(w.idArr) || w.idArr[i] == '9' || cap(b)-n < len(w.idArr) {
		return b, false
	}
	w.id++
	w.idArr[i]++
	// What follows the line in the copy is written over next.
	*(*[len(w.idArr)]byte)(b[n:cap(b)]) = w.idArr
	return b[:n+i+2], true
}

// newIDLine makes the id line of event w.id afresh (out of line: once a
// stream and at each new digit).
//
//go:noinline
func (w *Writer) newIDLine() []byte {
	l := w.idLine
	if l == nil {
		l = w.idArr[:0]
	}
	l = append(append(l[:0], "id: "...), w.idPrefix...)
	w.idDigits = len(l)
	l = strconv.AppendUint(l, w.id, 10)
	w.idLine = append(l, '\n')
	w.idRoom = roomOf(len(w.idLine) + 1)
	if w.idLast = 0; unsafe.SliceData(w.idLine) == &w.idArr[0] {
		w.idLast = uint8(len(w.idLine) - 2)
	}
	return w.idLine
}

// SendString is Send for a string.
func (w *Writer) SendString(event, data string) error {
	// A view, not a copy: Send only reads data, before it returns.
	return w.Send(event, unsafe.Slice(unsafe.StringData(data), len(data)))
}

// Flush sends the events Send kept, with the headers if they are not sent
// yet (Options.DeferFlush). With no event kept it does nothing, except that
// unsent headers go HeaderGrace later unless an event takes them first. It
// is safe to call at any time.
func (w *Writer) Flush() error {
	if !w.held {
		w.mu.Lock()
	}
	if !w.quiet || !w.headed || len(w.buf) == 0 {
		return w.flushAside()
	}
	// The common flush, before each wait of a stream under way, with
	// events sent: flush's and write's work without their calls, and
	// without a deferred unlock (flushAside's): nothing but the
	// response's Write and FlushError runs under mu, and net/http's do
	// not panic while its handler runs. Quiet and headed, the headers
	// went and nothing is unsent. Anything else is out of line, so that
	// a token's flush runs few code lines (docs/benchmarks.md, issue 13,
	// tokfoot session).
	n, err := w.w.Write(w.buf)
	w.buf, w.sent = w.buf[:0], w.sent+int64(n)
	flushing := err == nil
	if flushing {
		err = w.fl.FlushError()
	}
	if err != nil {
		return w.failedUnlock(err, flushing)
	}
	// now's common case by hand (a call less a token; too complex for
	// the compiler's budget): a token's flush takes the Clock's reading
	// of it. tick, which ignores the Clock, cannot be running: it holds
	// mu.
	if t := w.eventTime(); t != w.stamp {
		w.stamp, w.last = t, max(t, w.last)
	} else {
		w.last = w.now()
	}
	w.held = false
	w.mu.Unlock()
	return nil
}

// flushAside is Flush but for its common case, mu held; it unlocks mu.
//
//go:noinline
func (w *Writer) flushAside() error {
	if w.quiet && w.headed { // nothing sent, so nothing held
		w.mu.Unlock()
		return nil
	}
	defer w.unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if len(w.buf) > 0 {
		return w.flush()
	}
	if w.unsent && !w.grace {
		w.armHeaders()
	}
	return nil
}

// armHeaders sends the unsent headers HeaderGrace from now, on the
// keep-alive timer (see tick). Out of line, for a smaller Flush frame
// under the first flush (see writeHeaded).
//
//go:noinline
func (w *Writer) armHeaders() {
	w.grace = true
	if w.keeper != nil {
		w.keeper.graceFor(w)
		return
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(HeaderGrace, w.tick)
		return
	}
	w.timer.Reset(HeaderGrace)
}

// rearm sets the timer for the next keep-alive, silent having passed
// since the last write, or stops it when there are none. Called with mu
// held.
func (w *Writer) rearm(silent time.Duration) {
	if w.keepAlive > 0 {
		w.timer.Reset(w.keepAlive - silent)
	} else {
		w.timer.Stop()
	}
}

// Comment writes a comment line, which clients ignore, and flushes it.
func (w *Writer) Comment(text string) error {
	w.lock()
	defer w.unlock()
	if err := w.usable(); err != nil || w.log != nil {
		return err
	}
	w.comment(text)
	return w.flush()
}

func (w *Writer) comment(text string) {
	for line := range strings.Lines(text) {
		w.buf = append(w.buf, ": "...)
		w.buf = append(w.buf, strings.TrimRight(line, "\r\n")...)
		w.buf = append(w.buf, '\n')
	}
	if text == "" {
		w.buf = append(w.buf, ":\n"...)
	}
	w.buf = append(w.buf, '\n')
}

// LastID returns the id of the last event sent (Options.LastID before any).
func (w *Writer) LastID() uint64 {
	w.lock()
	defer w.unlock()
	return w.id
}

// Close sends any events Send kept and stops the keep-alives. The Writer
// must not write after its handler returns, so call Close before that; it
// is safe to call more than once.
func (w *Writer) Close() error {
	w.lock()
	defer w.unlock()
	if w.closed {
		return nil
	}
	if (len(w.buf) > 0 || w.unsent) && w.err == nil {
		w.flush()
	}
	w.closed, w.quiet = true, false
	if w.counted != nil {
		*w.counted += w.sent
	}
	if w.keeper != nil {
		w.keeper.drop(w, true)
	} else if w.timer != nil {
		w.timer.Stop()
	}
	if w.bufp != nil && cap(w.buf) <= 4096 {
		*w.bufp = w.buf[:0]
		bufPool.Put(w.bufp)
	}
	w.buf, w.bufp = nil, nil
	return nil
}

// Event buffers are pooled, as a gateway opens a Writer per stream; one
// grown past a few events' size is left to the collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// lock takes mu for a call of the Writer's owner, unless SendText kept it
// (held). unlock lets it go. The keep-alives' goroutines take mu itself:
// they never find held set.
func (w *Writer) lock() {
	if !w.held {
		w.mu.Lock()
	}
}

func (w *Writer) unlock() {
	if w.held { // not written otherwise: a shared Writer's callers read it
		w.held = false
	}
	w.mu.Unlock()
}

func (w *Writer) usable() error {
	if w.closed {
		return ErrClosed
	}
	return w.err
}

// flush writes the buffer and flushes the response. Called with mu held.
func (w *Writer) flush() error {
	if w.log != nil {
		err := w.log.Append(w.id, w.buf)
		w.buf = w.buf[:0]
		if err != nil {
			w.err = err
		}
		return err
	}
	var err error
	if w.headed {
		err = w.write()
	} else {
		w.headed = true
		err = w.writeHeaded()
		if w.grace {
			// Sent: the grace would only wake a goroutine for nothing;
			// the timer goes back to the keep-alives.
			w.grace = false
			if w.keeper != nil {
				w.keeper.drop(w, false)
			} else {
				w.rearm(0)
			}
		}
	}
	if err != nil {
		w.err, w.quiet = err, false
		return err
	}
	w.unsent = false
	w.last = w.now()
	return nil
}

// now is the time since base of a write that just ended: the Clock's
// reading of a newer event than the last write's, or the clock's. Out
// of line: flush's frame is under the first write, where net/http writes
// the headers deep (see writeHeaded).
//
//go:noinline
func (w *Writer) now() time.Duration {
	if !w.ticking {
		if t := w.eventTime(); t != w.stamp {
			w.stamp = t
			return max(t, w.last) // a keep-alive may have gone since it came
		}
	}
	return time.Since(w.base)
}

// eventTime is the Clock's reading of the latest event, or the last
// write's stamp when there is no Clock (no newer event, then).
func (w *Writer) eventTime() time.Duration {
	if w.clock == nil {
		return w.stamp
	}
	return *w.clock
}

// writeHeaded is write for the first flush, which makes net/http write
// the headers. That call is deep enough to grow the handler's stack from
// 8 to 16 KiB for the rest of the stream; running it on a short-lived
// goroutine avoided that but cost about 1 µs of CPU per token in
// BenchmarkCallPath (the hand-off between threads), too much for 8 KiB
// per open stream (docs/benchmarks.md, issue 13, sixth session).
func (w *Writer) writeHeaded() error { return w.write() }

// failedUnlock ends Flush's fast path on err, its write's or (flushing)
// its flush's, as flush would: kept as the Writer's error and returned,
// but for a response that cannot flush, which is no failure (see write).
// It unlocks mu.
//
//go:noinline
func (w *Writer) failedUnlock(err error, flushing bool) error {
	defer w.unlock()
	if flushing && errors.Is(err, http.ErrNotSupported) {
		w.last = w.now()
		return nil
	}
	w.err, w.quiet = err, false
	return err
}

// write writes the buffer and flushes the response.
func (w *Writer) write() error {
	if len(w.buf) > 0 {
		n, err := w.w.Write(w.buf)
		w.buf, w.sent = w.buf[:0], w.sent+int64(n)
		if err != nil {
			return err
		}
	}
	if err := w.fl.FlushError(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// flusher flushes a response and reports a gone client.
type flusher = interface{ FlushError() error }

// targetsOf is what sw writes and flushes w through. Flushes go to w's
// own FlushError (net/http's and the server's recorder have one), called
// directly: a frame less than http.ResponseController's under every
// flush, and the first one, where net/http writes the headers, runs
// about 4 KiB deeper still (see writeHeaded); other writers' go through a
// controller. A writer that passes its writes and flushes on unchanged
// once its headers are written (a passer: the server's recorder, which
// counts the bytes) names what it passes them to, and sw writes and
// flushes that, counting the bytes it writes (sent) for the passer's
// count (counted), to which Close adds them: a frame, and the passer's
// line, less each token's write and flush.
func (sw *Writer) targetsOf(w http.ResponseWriter) {
	sw.w = w
	if p, ok := w.(passer); ok {
		sw.fl = p.FlushTarget()
		if to, n := p.WriteTarget(); n != nil {
			sw.w, sw.counted = to, n
		}
		return
	}
	if f, ok := w.(flusher); ok {
		sw.fl = f
		return
	}
	sw.fl = controller{http.NewResponseController(w)}
}

// passer is a writer whose flushes go on to FlushTarget's, and whose
// writes to WriteTarget's writer with their bytes added to its count
// (nil: not yet, and the writer is the passer), which may be called in
// their place. (flusher is an alias: FlushTarget's result is a flusher
// as it is, not converted at a cost each stream.) One interface, so a
// Writer's start asserts once.
type passer interface {
	FlushTarget() flusher
	WriteTarget() (http.ResponseWriter, *int64)
}

type controller struct{ *http.ResponseController }

func (c controller) FlushError() error { return c.Flush() }

// tick runs on the keep-alive timer. Rather than resetting a timer on every
// event, it checks how long the stream has been silent and re-arms itself
// for the rest of the interval. While grace is set it sends the unsent
// headers first.
func (w *Writer) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.usable() != nil {
		return
	}
	w.ticking = true
	defer func() { w.ticking = false }()
	if w.grace {
		w.grace = false
		if w.unsent && w.flush() != nil {
			return
		}
		w.rearm(time.Since(w.base) - w.last)
		return
	}
	if w.keepAlive <= 0 {
		return // a grace's tick that came after the headers went
	}
	silent := time.Since(w.base) - w.last
	if silent >= w.keepAlive {
		w.comment("keep-alive")
		if w.flush() != nil {
			return
		}
		silent = 0
	}
	w.timer.Reset(w.keepAlive - silent)
}

// Prefetch brings into the cache what a token's event and flush touch:
// the Writer and its buffer's first line, the start of the response it
// writes to, and the last token event's lines (package prefetch). For
// the goroutine that writes, when its stream wakes.
func (w *Writer) Prefetch() {
	prefetch.Range(unsafe.Pointer(w), unsafe.Sizeof(*w))
	if p := unsafe.SliceData(w.buf); p != nil {
		prefetch.Range(unsafe.Pointer(p), 1)
	}
	// The target's data word: net/http's response, whose fields a write
	// and flush read first (its size: 232 bytes in Go 1.26).
	if t := (*[2]unsafe.Pointer)(unsafe.Pointer(&w.w))[1]; t != nil {
		prefetch.Range(t, 240)
	}
	prefetch.Addr(w.linesAt, uintptr(w.linesN))
}
