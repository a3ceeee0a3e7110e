package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"
	"unsafe"
)

func TestWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec, Options{LastID: 41, KeepAlive: -1, Retry: 1500 * time.Millisecond})
	defer w.Close()
	for _, h := range [][2]string{{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"},
		{"X-Accel-Buffering", "no"}, {"Connection", "keep-alive"}} {
		if got := rec.Header().Get(h[0]); got != h[1] {
			t.Errorf("%s = %q, want %q", h[0], got, h[1])
		}
	}
	if rec.Code != 200 || !rec.Flushed {
		t.Fatalf("status %d, flushed %v: headers must go out at once", rec.Code, rec.Flushed)
	}
	must(t, w.Send("", []byte(`{"a":1}`)))
	must(t, w.SendString("delta", "line one\nline two\r\nline three\rend"))
	must(t, w.SendString("", ""))
	must(t, w.SendString("", "trailing\n"))
	must(t, w.Comment("hello\nworld"))
	must(t, w.SendString("", "[DONE]"))
	want := "retry: 1500\n\n" +
		"id: 42\ndata: {\"a\":1}\n\n" +
		"id: 43\nevent: delta\ndata: line one\ndata: line two\ndata: line three\ndata: end\n\n" +
		"id: 44\ndata: \n\n" +
		"id: 45\ndata: trailing\ndata: \n\n" +
		": hello\n: world\n\n" +
		"id: 46\ndata: [DONE]\n\n"
	if got := rec.Body.String(); got != want {
		t.Fatalf("body:\n%q\nwant\n%q", got, want)
	}
	if w.LastID() != 46 {
		t.Fatalf("LastID = %d", w.LastID())
	}
	if err := w.SendString("bad\nname", "x"); err == nil {
		t.Fatal("an event name with a line break must be refused")
	}
	w.Close()
	if err := w.SendString("", "x"); err != ErrClosed {
		t.Fatalf("Send after Close = %v", err)
	}
}

// flushCounter counts writes and flushes, to show one flush per event.
type flushCounter struct {
	mu      sync.Mutex // for writers' timers; see counts
	header  http.Header
	body    bytes.Buffer
	writes  int
	flushes int
	fail    error
}

func (f *flushCounter) Header() http.Header { return f.header }
func (f *flushCounter) WriteHeader(int)     {}
func (f *flushCounter) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	f.writes++
	return f.body.Write(b)
}
func (f *flushCounter) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
}

// counts reads the counters against a timer's writes.
func (f *flushCounter) counts() (writes, flushes int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes, f.flushes, f.body.String()
}

func TestWriterFlushesEachEvent(t *testing.T) {
	fc := &flushCounter{header: http.Header{}}
	w := NewWriter(fc, Options{KeepAlive: -1})
	defer w.Close()
	for i := range 5 {
		must(t, w.SendString("", fmt.Sprint(i)))
		if fc.writes != i+1 || fc.flushes != i+2 { // +1: the headers
			t.Fatalf("after event %d: %d writes, %d flushes", i, fc.writes, fc.flushes)
		}
	}
	fc.fail = errors.New("broken pipe")
	if err := w.SendString("", "x"); err == nil || err.Error() != "broken pipe" {
		t.Fatalf("err = %v", err)
	}
	fc.fail = nil
	if err := w.SendString("", "y"); err == nil {
		t.Fatal("a writer that failed once keeps failing")
	}
}

// With DeferFlush, events wait in the writer until Flush or Close, and then
// leave in one write; the headers leave with the first of them.
func TestWriterDeferFlush(t *testing.T) {
	fc := &flushCounter{header: http.Header{}}
	w := NewWriter(fc, Options{KeepAlive: -1, OmitIDs: true, DeferFlush: true})
	for i := range 3 {
		must(t, w.SendString("", fmt.Sprint(i)))
	}
	if fc.writes != 0 || fc.flushes != 0 {
		t.Fatalf("before Flush: %d writes, %d flushes", fc.writes, fc.flushes)
	}
	must(t, w.Flush())
	must(t, w.Flush()) // nothing kept: nothing written
	if fc.writes != 1 || fc.flushes != 1 || fc.body.String() != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
		t.Fatalf("after Flush: %d writes, %d flushes, %q", fc.writes, fc.flushes, fc.body.String())
	}
	must(t, w.SendString("", "3"))
	must(t, w.Close())
	if fc.writes != 2 || fc.flushes != 2 || !strings.HasSuffix(fc.body.String(), "data: 3\n\n") {
		t.Fatalf("Close did not send the kept event: %d writes, %q", fc.writes, fc.body.String())
	}
}

// A deferred writer's headers leave with its first event when that comes
// within HeaderGrace of a Flush that found none (a source about to wait),
// else on their own once HeaderGrace has passed; and at Close for a stream
// that wrote nothing.
func TestWriterDeferFlushHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := &flushCounter{header: http.Header{}}
		w := NewWriter(fc, Options{KeepAlive: -1, OmitIDs: true, DeferFlush: true})
		if _, f, _ := fc.counts(); f != 0 || fc.header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("at start: %d flushes, headers %v", f, fc.header)
		}
		must(t, w.Flush())
		time.Sleep(HeaderGrace / 2)
		must(t, w.SendString("", "a"))
		must(t, w.Flush())
		time.Sleep(HeaderGrace)
		synctest.Wait()
		if w, f, body := fc.counts(); w != 1 || f != 1 || body != "data: a\n\n" {
			t.Fatalf("first event within the grace: %d writes, %d flushes, %q; want one flush for both", w, f, body)
		}
		must(t, w.Close())

		fc = &flushCounter{header: http.Header{}}
		w = NewWriter(fc, Options{KeepAlive: -1, DeferFlush: true})
		must(t, w.Flush())
		must(t, w.Flush())
		time.Sleep(HeaderGrace - time.Nanosecond)
		synctest.Wait()
		if _, f, _ := fc.counts(); f != 0 {
			t.Fatalf("headers flushed before the grace ran out")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if w, f, _ := fc.counts(); w != 0 || f != 1 {
			t.Fatalf("after the grace with no event: %d writes, %d flushes; want the headers flushed once", w, f)
		}
		must(t, w.Close())
		if _, f, _ := fc.counts(); f != 1 {
			t.Fatalf("Close flushed again: %d flushes", f)
		}

		fc = &flushCounter{header: http.Header{}}
		must(t, NewWriter(fc, Options{KeepAlive: -1, DeferFlush: true}).Close())
		if _, f, _ := fc.counts(); f != 1 {
			t.Fatalf("Close of an empty stream: %d flushes, want the headers flushed", f)
		}
	})
}

// With keep-alives on, a deferred writer's header grace runs on the
// keep-alive timer: the headers leave HeaderGrace after a Flush that found
// no event, and the keep-alives still come after 15 s of silence (from
// the last write), whether the headers left on their own or with an
// event.
func TestWriterDeferFlushHeadersKeepAlive(t *testing.T) {
	timers(t, func(t *testing.T, newWriter func(http.ResponseWriter, Options) *Writer) {
		for _, event := range []bool{false, true} {
			fc := &flushCounter{header: http.Header{}}
			w := newWriter(fc, Options{OmitIDs: true, DeferFlush: true})
			must(t, w.Flush())
			if event {
				must(t, w.SendString("", "a"))
				must(t, w.Flush())
			}
			time.Sleep(HeaderGrace)
			synctest.Wait()
			wantBody := ""
			if event {
				wantBody = "data: a\n\n"
			}
			if _, f, body := fc.counts(); f != 1 || body != wantBody {
				t.Fatalf("event %v: %d flushes, %q after the grace", event, f, body)
			}
			// The silence counts from the last write: the headers', at
			// HeaderGrace, or the event's, at 0.
			last := HeaderGrace
			if event {
				last = 0
			}
			time.Sleep(last + DefaultKeepAlive - HeaderGrace - time.Microsecond)
			synctest.Wait()
			if _, f, _ := fc.counts(); f != 1 {
				t.Fatalf("event %v: %d flushes before 15 s of silence", event, f)
			}
			time.Sleep(time.Microsecond)
			synctest.Wait()
			if _, f, body := fc.counts(); f != 2 || body != wantBody+": keep-alive\n\n" {
				t.Fatalf("event %v: %d flushes, %q after 15 s of silence", event, f, body)
			}
			must(t, w.Close())
		}
	})
}

// timers runs f in a synctest bubble for Writers of their own timers
// (NewWriter) and of a Keeper's, made in the bubble (NewWriter, Open).
func timers(t *testing.T, f func(t *testing.T, newWriter func(http.ResponseWriter, Options) *Writer)) {
	t.Run("own", func(t *testing.T) { synctest.Test(t, func(t *testing.T) { f(t, NewWriter) }) })
	t.Run("keeper", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { f(t, new(Keeper).NewWriter) })
	})
	t.Run("keeper's Open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			k := new(Keeper)
			f(t, func(w http.ResponseWriter, o Options) *Writer {
				sw := new(Writer)
				k.Open(sw, w, o)
				return sw
			})
		})
	})
}

func TestKeepAlive(t *testing.T) {
	timers(t, func(t *testing.T, newWriter func(http.ResponseWriter, Options) *Writer) {
		fc := &lockedRecorder{}
		w := newWriter(fc, Options{})
		time.Sleep(14 * time.Second)
		must(t, w.SendString("", "a")) // resets the silence
		time.Sleep(14 * time.Second)
		if got := fc.String(); got != "id: 1\ndata: a\n\n" {
			t.Fatalf("before 15 s of silence: %q", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := fc.String(); got != "id: 1\ndata: a\n\n: keep-alive\n\n" {
			t.Fatalf("after 15 s of silence: %q", got)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if got := strings.Count(fc.String(), ": keep-alive\n\n"); got != 3 {
			t.Fatalf("%d keep-alives after 45 s of silence, want 3", got)
		}
		w.Close()
		time.Sleep(time.Minute)
		if got := strings.Count(fc.String(), ": keep-alive\n\n"); got != 3 {
			t.Fatal("keep-alive after Close")
		}
	})
}

// TestKeepAliveConcurrent races events against a very short keep-alive;
// run with -race. Every frame must arrive whole.
func TestKeepAliveConcurrent(t *testing.T) {
	for _, k := range []*Keeper{nil, new(Keeper)} {
		keepAliveConcurrent(t, k)
	}
}

func keepAliveConcurrent(t *testing.T, k *Keeper) {
	fc := &lockedRecorder{}
	var w *Writer
	if k != nil {
		w = k.NewWriter(fc, Options{KeepAlive: time.Microsecond})
	} else {
		w = NewWriter(fc, Options{KeepAlive: time.Microsecond})
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				w.SendString("", fmt.Sprintf("%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	w.Close()
	r := NewReader(strings.NewReader(fc.String()))
	n := 0
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		n++
		if ev.ID != fmt.Sprint(n) {
			t.Fatalf("event %d has id %s", n, ev.ID)
		}
	}
	if n != 800 {
		t.Fatalf("read %d events, want 800", n)
	}
}

type lockedRecorder struct {
	mu sync.Mutex
	h  http.Header
	b  bytes.Buffer
}

func (l *lockedRecorder) Header() http.Header {
	if l.h == nil {
		l.h = http.Header{}
	}
	return l.h
}
func (l *lockedRecorder) WriteHeader(int) {}
func (l *lockedRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedRecorder) Flush() {}
func (l *lockedRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, s string) []Event {
	t.Helper()
	r := NewReader(strings.NewReader(s))
	var out []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, ev)
	}
}

func TestReader(t *testing.T) {
	msg := func(id, data string) Event { return Event{ID: id, Event: "message", Data: data} }
	tests := []struct {
		name  string
		input string
		want  []Event
	}{
		// The examples of the WHATWG HTML standard, §9.2.
		{"stock ticker", "data: YHOO\ndata: +2\ndata: 10\n\n", []Event{msg("", "YHOO\n+2\n10")}},
		{"ids and comments", ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
			[]Event{msg("1", "first event"), msg("", "second event"), msg("", " third event")}},
		{"empty data", "data\n\ndata\ndata\n\ndata:", []Event{msg("", ""), msg("", "\n")}},
		{"one space removed", "data:test\n\ndata: test\n\n", []Event{msg("", "test"), msg("", "test")}},
		// Line ends, BOM, fields.
		{"CRLF", "data: a\r\ndata: b\r\n\r\n", []Event{msg("", "a\nb")}},
		{"CR", "data: a\rdata: b\r\r", []Event{msg("", "a\nb")}},
		{"mixed", "data: a\r\n\rdata: b\n\r\n", []Event{msg("", "a"), msg("", "b")}},
		{"BOM", "\ufeffdata: a\n\n", []Event{msg("", "a")}},
		{"only one BOM", "\ufeff\ufeffdata: a\n\ndata: b\n\n", []Event{msg("", "b")}},
		{"event type", "event: delta\ndata: x\n\ndata: y\n\n", []Event{{Event: "delta", Data: "x"}, msg("", "y")}},
		{"type without data not dispatched", "event: ping\n\ndata: y\n\n", []Event{msg("", "y")}},
		{"unterminated final event", "data: a\n\ndata: b\n", []Event{msg("", "a")}},
		{"id persists", "id: 7\ndata: a\n\ndata: b\n\n", []Event{msg("7", "a"), msg("7", "b")}},
		{"id with NUL ignored", "id: 3\ndata: a\n\nid: 4\x005\ndata: b\n\n", []Event{msg("3", "a"), msg("3", "b")}},
		{"id without data still set", "id: 9\n\ndata: a\n\n", []Event{msg("9", "a")}},
		{"retry", "retry: 2500\ndata: a\n\nretry: x1\ndata: b\n\n",
			[]Event{{Event: "message", Data: "a", Retry: 2500 * time.Millisecond}, msg("", "b")}},
		{"unknown fields and colons", "foo: bar\ndata: a: b\nData: no\n\n", []Event{msg("", "a: b")}},
		{"field without colon", "data\nevent\n\n", []Event{msg("", "")}},
		{"no space", "data:x\n\n", []Event{msg("", "x")}},
		{"plain events", "data: a\n\ndata:\n\ndata:  b\n\ndata: c\r\n\ndata: d\n\r\ndata: e\n\n",
			[]Event{msg("", "a"), msg("", ""), msg("", " b"), msg("", "c"), msg("", "d"), msg("", "e")}},
		{"plain events with ids", "id: 1\ndata: a\n\nid:2\ndata: b\n\nid: \ndata: c\n\nid: 3\r\ndata: d\n\nid: 4\ndata: e\r\n\nid: 5\nid: 6\ndata: f\n\n",
			[]Event{msg("1", "a"), msg("2", "b"), msg("", "c"), msg("3", "d"), msg("4", "e"), msg("6", "f")}},
		{"plain named events", "event: x\ndata: a\n\nevent: y\nid: 1\ndata: b\n\nid: 2\nevent:\ndata: c\n\nevent: z\r\ndata: d\n\nevent: x\nevent: y\ndata: e\n\nid: 3\nid: 4\x00\ndata: f\n\nevent: a\nid: 5\nevent: b\ndata: g\n\n",
			[]Event{{Event: "x", Data: "a"}, {ID: "1", Event: "y", Data: "b"}, msg("2", "c"), {ID: "2", Event: "z", Data: "d"}, {ID: "2", Event: "y", Data: "e"}, msg("3", "f"), {ID: "5", Event: "b", Data: "g"}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, tt.input)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Fatalf("events\n got  %+v\n want %+v", got, tt.want)
			}
			// After a first event the same input goes through the
			// plain-event path where it can (a BOM there is data).
			if strings.HasPrefix(tt.input, "\ufeff") {
				return
			}
			got = readAll(t, "data: 0\n\n"+tt.input)
			want := append([]Event{msg("", "0")}, tt.want...)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Fatalf("after a first event\n got  %+v\n want %+v", got, want)
			}
		})
	}
}

func TestReaderState(t *testing.T) {
	r := NewReader(strings.NewReader("retry: 300\nid: 5\n\n"))
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
	if r.LastID() != "5" || r.Retry() != 300*time.Millisecond {
		t.Fatalf("LastID %q Retry %v", r.LastID(), r.Retry())
	}
	// The line loop, then the plain-event path; the event's lines count
	// together.
	for _, first := range []string{"", "data: x\n\n", "data: x\n\nid: 12345678901234\n", "data: x\n\nevent: 123456789012\nid: 1\n"} {
		n := 45 // 51 bytes: one over
		if strings.Contains(first, "id") {
			n = 27 // 18 + 33 bytes
		}
		r = NewReader(strings.NewReader(first + "data: " + strings.Repeat("x", n) + "\n\n"))
		r.SetMaxEventSize(50)
		if first != "" {
			r.Next()
		}
		if _, err := r.Next(); err != ErrTooLong {
			t.Fatalf("after %q: err = %v, want ErrTooLong", first, err)
		}
	}
}

// TestReaderNames: an event named one of SetNames' names is dispatched
// with that very string (no allocation), by the fast path and after a CR
// (slowLine); any other name is read as it is.
func TestReaderNames(t *testing.T) {
	names := []string{"message_start", "message_delta"}
	in := "event: message_start\ndata: a\n\nevent: message_delta\r\ndata: b\n\n" +
		"event: message_del\ndata: c\n\nevent: message_delta\ndata: d\n\n"
	r := NewReader(strings.NewReader(in))
	r.SetNames(names)
	var got []string
	for {
		ev, err := r.NextRaw()
		if err != nil {
			break
		}
		got = append(got, ev.Event)
		if i := slices.Index(names, ev.Event); i >= 0 && unsafe.StringData(ev.Event) != unsafe.StringData(names[i]) {
			t.Errorf("event %q: not SetNames' string", ev.Event)
		}
	}
	if want := []string{"message_start", "message_delta", "message_del", "message_delta"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	// And no allocation for them, where every new name is one without.
	if raceEnabled {
		return // the reader's buffer comes from a pool
	}
	two := strings.NewReader("event: message_start\ndata: a\n\nevent: message_delta\ndata: b\n\n")
	allocs := func(names []string) float64 {
		return testing.AllocsPerRun(20, func() {
			two.Seek(0, io.SeekStart)
			r := NewReader(two)
			r.SetNames(names)
			for _, err := r.NextRaw(); err == nil; _, err = r.NextRaw() {
			}
		})
	}
	if without, with := allocs(nil), allocs(names); without-with != 2 {
		t.Errorf("%v allocations with the names, %v without: want 2 fewer", with, without)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("data: YHOO\ndata: +2\n\n: c\nid: 1\r\nevent: x\r\rretry: 10\n\n"))
	f.Add([]byte("\ufeffdata\n\nid: \x00\ndata:\r\n\n"))
	f.Add([]byte("data: a\n\ndata: b\n\ndata:c\r\n\ndata: d\n\r\ndata:\n\n"))
	f.Add([]byte("data: a\n\nid: 1\ndata: b\n\nid:\x00\ndata:c\n\nid: 2\r\ndata: d\n\nid: 3\ndata:\n\n"))
	f.Add([]byte("data: a\n\nevent: x\ndata: b\n\nevent:\nid: 1\ndata: c\n\nevent: y\nevent: z\ndata: d\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		all := func(src io.Reader) []Event {
			r := NewReader(src)
			r.SetMaxEventSize(1 << 16)
			var evs []Event
			for range len(b) + 1 {
				ev, err := r.Next()
				if err != nil {
					return evs
				}
				if strings.ContainsAny(ev.Event, "\r\n") || strings.ContainsRune(ev.ID, 0) {
					t.Fatalf("bad event %+v", ev)
				}
				evs = append(evs, ev)
			}
			t.Fatal("more events than bytes")
			return nil
		}
		// Lines split across reads (and so across the buffer) parse as
		// lines read whole.
		whole, bytewise := all(bytes.NewReader(b)), all(iotest.OneByteReader(bytes.NewReader(b)))
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("read whole: %+v\nbyte by byte: %+v", whole, bytewise)
		}
	})
}

// FuzzRoundTrip writes events with a Writer and reads them back.
func FuzzRoundTrip(f *testing.F) {
	f.Add("delta", "line one\nline two", "", "[DONE]", uint64(0))
	f.Add("", "a\r\nb\rc", " spaced", "\ufeffx", uint64(99))
	f.Fuzz(func(t *testing.T, e1, d1, e2, d2 string, last uint64) {
		if strings.ContainsAny(e1+e2, "\r\n") || last > 1<<62 {
			return
		}
		rec := httptest.NewRecorder()
		w := NewWriter(rec, Options{KeepAlive: -1, LastID: last})
		must(t, w.SendString(e1, d1))
		must(t, w.SendString(e2, d2))
		w.Close()
		got := readAll(t, rec.Body.String())
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n")
		want := []Event{{ID: fmt.Sprint(last + 1), Event: e1, Data: norm.Replace(d1)},
			{ID: fmt.Sprint(last + 2), Event: e2, Data: norm.Replace(d2)}}
		for i := range want {
			if want[i].Event == "" {
				want[i].Event = "message"
			}
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Fatalf("got  %q\nwant %q", got, want)
		}
	})
}

// discard is a ResponseWriter that keeps nothing, so the benchmark sees the
// Writer's own cost.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) WriteHeader(int)             {}
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) Flush()                      {}

func BenchmarkWriter(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" token"}}]}`)
	w := NewWriter(discard{http.Header{}}, Options{})
	defer w.Close()
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if err := w.Send("", chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterNamed is BenchmarkWriter with an event name, as the
// Anthropic dialect sends every event.
func BenchmarkWriterNamed(b *testing.B) {
	data := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}`)
	w := NewWriter(discard{http.Header{}}, Options{OmitIDs: true})
	defer w.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Send("content_block_delta", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	w := NewWriter(&lockedRecorder{}, Options{KeepAlive: -1})
	_ = w
	for i := range 1000 {
		fmt.Fprintf(&buf, "id: %d\ndata: {\"token\":\" word\"}\n\n", i)
	}
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(in))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

// TestReaderRawAndRelease: NextRaw's data is the same as Next's but aliases
// the reader's buffer; a reader that reached the end (or was released)
// keeps answering io.EOF, and its pooled buffer serves the next reader
// without mixing the two streams.
func TestReaderRawAndRelease(t *testing.T) {
	in := "event: a\nid: 1\ndata: one\n\nevent: a\nid: 2\ndata: two\ndata: lines\n\n"
	r := NewReader(strings.NewReader(in))
	ev, err := r.NextRaw()
	if err != nil || ev.Event != "a" || string(ev.Data) != "one" || r.LastID() != "1" {
		t.Fatalf("first: %+v %v id %q", ev, err, r.LastID())
	}
	if !inBuffer(r, ev.Data) {
		t.Errorf("raw data %q of one whole line is not in the reader's buffer", ev.Data)
	}
	ev, err = r.NextRaw()
	if err != nil || string(ev.Data) != "two\nlines" || r.LastID() != "2" {
		t.Fatalf("second: %+v %v id %q", ev, err, r.LastID())
	}
	for range 2 {
		if _, err := r.NextRaw(); err != io.EOF {
			t.Fatalf("at the end: %v, want io.EOF", err)
		}
	}
	r2 := NewReader(strings.NewReader("data: other\n\n"))
	if ev, err := r2.Next(); err != nil || ev.Data != "other" || ev.ID != "" {
		t.Fatalf("next reader: %+v %v", ev, err)
	}
	r2.Release()
	if _, err := r2.Next(); err != io.EOF {
		t.Fatalf("after Release: %v, want io.EOF", err)
	}
}

// A Reader made by Init reads as NewReader's does, whatever the Reader
// held before: no id, name, limit or error of an earlier stream.
func TestReaderInit(t *testing.T) {
	var r Reader
	r.Init(strings.NewReader("event: a\nid: 1\ndata: one\n\n"))
	r.SetMaxEventSize(32)
	if ev, err := r.Next(); err != nil || ev.Event != "a" || ev.Data != "one" || r.LastID() != "1" {
		t.Fatalf("first stream: %+v %v id %q", ev, err, r.LastID())
	}
	r.Release()
	long := strings.Repeat("x", 64)
	r.Init(strings.NewReader("data: " + long + "\n\n"))
	ev, err := r.Next()
	if err != nil || ev.Event != "message" || ev.Data != long || ev.ID != "" || r.LastID() != "" {
		t.Fatalf("second stream: %+v %v id %q", ev, err, r.LastID())
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

// inBuffer reports whether b lies in r's buffer.
func inBuffer(r *Reader, b []byte) bool {
	if len(b) == 0 || r.bufp == nil {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&r.bufp[0]))
	return p >= lo && p+uintptr(len(b)) <= lo+readerBuffer
}

// BenchmarkReaderRaw reads an upstream's per-token chat chunks with
// NextRaw, as the openai provider does: one op is one event.
func BenchmarkReaderRaw(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-0123456789abcdef","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	benchReadRaw(b, chunk, 1000)
}

// benchReadRaw reads n copies of chunk with NextRaw, one event per op,
// starting over with a new Reader at the end.
func benchReadRaw(b *testing.B, chunk []byte, n int) {
	in := bytes.Repeat(chunk, n)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	r := NewReader(bytes.NewReader(in))
	for i := 0; b.Loop(); i++ {
		if i%n == 0 {
			r = NewReader(bytes.NewReader(in))
		}
		if _, err := r.NextRaw(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderRawLong is BenchmarkReaderRaw with events longer than the
// Reader's buffer (a chunk with top logprobs, about 3 KiB), which the
// Reader joins from several reads.
func BenchmarkReaderRawLong(b *testing.B) {
	top := strings.Repeat(`{"token":" tok","logprob":-0.25,"bytes":[32,116,111,107]},`, 50)
	chunk := []byte(`data: {"id":"chatcmpl-0123456789abcdef","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":" token"},"logprobs":{"content":[{"token":" token","logprob":-0.1,"top_logprobs":[` + top[:len(top)-1] + `]}]},"finish_reason":null}]}` + "\n\n")
	benchReadRaw(b, chunk, 100)
}

// FuzzSendLine holds SendLine to Send: for data without a line break,
// the same bytes on the wire.
func FuzzSendLine(f *testing.F) {
	f.Add("", `{"a":1}`)
	f.Add("delta", "x y\tz")
	f.Fuzz(func(t *testing.T, event, data string) {
		if strings.ContainsAny(event+data, "\r\n") {
			return
		}
		var out [2]string
		for i, line := range []bool{false, true} {
			rec := httptest.NewRecorder()
			w := NewWriter(rec, Options{KeepAlive: -1})
			send := w.Send
			if line {
				send = w.SendLine
			}
			must(t, send(event, []byte(data)))
			must(t, send(event, []byte(data)))
			w.Close()
			out[i] = rec.Body.String()
		}
		if out[0] != out[1] {
			t.Fatalf("Send     %q\nSendLine %q", out[0], out[1])
		}
	})
}

// BenchmarkReaderRawEvents is BenchmarkReaderRaw with the mock's events
// (an id line, then the chunk) arriving one a read, as an upstream's
// tokens do: what the openai provider's reader does per token.
func BenchmarkReaderRawEvents(b *testing.B) {
	var in []byte
	for i := range 1000 {
		in = fmt.Appendf(in, "id: %04d\ndata: {\"id\":\"chatcmpl-mock-1\",\"object\":\"chat.completion.chunk\",\"created\":1796579468,\"model\":\"default\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n", i)
	}
	one := []byte{byte(len(in) / 1000)} // one event a read
	b.ReportAllocs()
	var r *Reader
	for i := 0; b.Loop(); i++ {
		if i%1000 == 0 {
			r = NewReader(&chunks{b: in, sizes: one})
		}
		if _, err := r.NextRaw(); err != nil {
			b.Fatal(err)
		}
	}
}

// logReads is a source of pieces, one a read, noting each read in log.
type logReads struct {
	pieces []string
	log    *strings.Builder
}

func (l *logReads) Read(p []byte) (int, error) {
	if len(l.pieces) == 0 {
		l.log.WriteString("read:EOF ")
		return 0, io.EOF
	}
	n := copy(p, l.pieces[0])
	l.pieces[0] = l.pieces[0][n:]
	if l.pieces[0] == "" {
		l.pieces = l.pieces[1:]
	}
	l.log.WriteString("read ")
	return n, nil
}

// TestReaderBeforeRead: SetBeforeRead's function runs before every read
// of the source, on every path (NextShaped's and NextRaw's), and
// SourceEOF says when the source returned io.EOF, not before.
func TestReaderBeforeRead(t *testing.T) {
	var log strings.Builder
	src := &logReads{pieces: []string{"data: a\n\n", "data: b\n", "\n", "data: c\n\n"}, log: &log}
	r := NewReader(src)
	r.SetBeforeRead(waitFunc(func() { log.WriteString("before ") }))
	var sh Shape
	sh.Set("", []byte(nil), nil)
	run := [256]bool{'a': true, 'b': true, 'c': true}
	var got []string
	for {
		if v, ok := r.NextShaped(&sh, &run); ok {
			got = append(got, fmt.Sprint("shaped:", string(v), r.SourceEOF()))
			continue
		}
		ev, err := r.NextRaw()
		if err != nil {
			got = append(got, fmt.Sprint(err, r.SourceEOF()))
			break
		}
		got = append(got, fmt.Sprint(string(ev.Data), r.SourceEOF()))
	}
	// The first event is NextRaw's: it checks for a BOM.
	if want := "afalse bfalse shaped:cfalse EOF true"; strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, " "), want)
	}
	if want := "before read before read before read before read before read:EOF "; log.String() != want {
		t.Errorf("reads %q, want %q", log.String(), want)
	}
}

// TestReaderAfterWait: a Waiter that is also an AfterWaiter is told after
// every read of the source that brought bytes, on both of the reader's
// read paths (an event read whole, and one whose end a later read
// brings), and not after a read that brought none or the source's end.
func TestReaderAfterWait(t *testing.T) {
	var log strings.Builder
	src := &logReads{pieces: []string{"data: a\n\n", "data: b\n", "", "\n", "data: c\n\n"}, log: &log}
	r := NewReader(src)
	r.SetBeforeRead(&logWaits{log: &log})
	var got []string
	for {
		ev, err := r.NextRaw()
		if err != nil {
			break
		}
		got = append(got, string(ev.Data))
	}
	if want := "a b c"; strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, " "), want)
	}
	want := "before read after before read after before read before read after before read after before read:EOF "
	if log.String() != want {
		t.Errorf("reads %q, want %q", log.String(), want)
	}
}

// logWaits logs its BeforeWait and AfterWait calls.
type logWaits struct{ log *strings.Builder }

func (w *logWaits) BeforeWait() { w.log.WriteString("before ") }
func (w *logWaits) AfterWait()  { w.log.WriteString("after ") }

// waitFunc is a function as a Waiter.
type waitFunc func()

func (f waitFunc) BeforeWait() { f() }

// TestShapeSetAgain: a Shape set again (as a token path records each new
// shape in the same one) takes the events of its last shape only, and
// none once Reset, whichever it took before.
func TestShapeSetAgain(t *testing.T) {
	in := "data: {\"a\":\"x\"}\n\n" + // NextRaw's (the BOM check)
		"data: {\"a\":\"y\"}\n\ndata: {\"b\":\"z\"}\n\n" +
		"data: {\"a\":\"w\"}\n\ndata: {\"b\":\"v\"}\n\ndata: {\"b\":\"u\"}\n\n"
	r := NewReader(strings.NewReader(in))
	run := [256]bool{'u': true, 'v': true, 'w': true, 'x': true, 'y': true, 'z': true}
	var sh Shape
	var got []string
	for i := 0; ; i++ {
		switch i {
		case 1:
			sh.Set("", []byte(`{"a":"`), []byte(`"}`))
		case 3:
			sh.Set("", []byte(`{"b":"`), []byte(`"}`))
		case 5:
			sh.Reset()
		}
		if v, ok := r.NextShaped(&sh, &run); ok {
			got = append(got, "shaped:"+string(v))
			continue
		}
		ev, err := r.NextRaw()
		if err != nil {
			break
		}
		got = append(got, string(ev.Data))
	}
	want := `{"a":"x"} shaped:y {"b":"z"} {"a":"w"} shaped:v {"b":"u"}`
	if strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, " "), want)
	}
}

// TestShapeOptional: a shape with an optional member takes its events
// with the member (any JSON-plain string, not empty) or without it, and
// returns the run alone; a member with an empty, escaped or non-ASCII
// string, another member, or one cut short, is not taken.
func TestShapeOptional(t *testing.T) {
	in := "data: {\"t\":\"a\",\"o\":\"xY9\"}\n\n" + // NextRaw's (the BOM check)
		"data: {\"t\":\"b\",\"o\":\"Zq\"}\n\n" +
		"data: {\"t\":\"c\"}\n\n" +
		"data: {\"t\":\"d\",\"o\":\"\"}\n\n" +
		"data: {\"t\":\"e\",\"o\":\"a\\\"\"}\n\n" +
		"data: {\"t\":\"f\",\"o\":\"\xc3\xa9\"}\n\n" +
		"data: {\"t\":\"g\",\"p\":\"x\"}\n\n" +
		"data: {\"t\":\"h\",\"o\":\"x\"}}\n\n" +
		"data: {\"t\":\"i\",\"o\":\"" + strings.Repeat("k", 90) + "\"}\n\n" +
		"data: {\"t\":\"j\",\"o\":\"x\"}"
	r := NewReader(strings.NewReader(in))
	var sh Shape
	sh.SetOptional("", []byte(`{"t":"`), []byte(`"`), []byte(`}`), []byte(`,"o":"`))
	if head, tail := sh.Data(); string(head) != `{"t":"` || string(tail) != `"}` {
		t.Fatalf("Data %q %q", head, tail)
	}
	var got []string
	for {
		if v, ok := r.NextShaped(&sh, nil); ok {
			got = append(got, "shaped:"+string(v))
			continue
		}
		ev, err := r.NextRaw()
		if err != nil {
			break
		}
		got = append(got, string(ev.Data[:8]))
	}
	want := `{"t":"a" shaped:b shaped:c {"t":"d" {"t":"e" {"t":"f" {"t":"g" {"t":"h" shaped:i`
	if strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, " "), want)
	}
}
