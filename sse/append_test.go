package sse

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/jsonstr"
)

// FuzzSendAppend holds SendAppend and SendText to SendLine: for data
// without a line break, the same bytes on the wire and in a log, with or
// without ids, deferred flushes and a prefix in the Writer's buffer.
// SendText's event is data, data as a JSON string and data.
func FuzzSendAppend(f *testing.F) {
	f.Add("", `{"a":1}`, false, false)
	f.Add("content_block_delta", "x y\tz", true, true)
	f.Add("", "", false, true)
	f.Fuzz(func(t *testing.T, event, data string, omitIDs, deferred bool) {
		if strings.ContainsAny(event+data, "\r\n") {
			return
		}
		line := data + string(jsonstr.Append(nil, data)) + data
		var out, logged [3]string
		for i := range 3 {
			send := func(w *Writer) error {
				switch i {
				case 1:
					return w.SendAppend(event, func(b []byte) []byte { return append(b, line...) })
				case 2:
					return w.SendText(NewTextEvent(event, []byte(data), data), data)
				}
				return w.SendLine(event, []byte(line))
			}
			rec := httptest.NewRecorder()
			w := NewWriter(rec, Options{KeepAlive: -1, OmitIDs: omitIDs, DeferFlush: deferred, IDPrefix: "p-", LastID: 7})
			must(t, send(w))
			must(t, w.Comment("between"))
			must(t, send(w))
			w.Close()
			out[i] = rec.Body.String()

			l := &frameLog{}
			lw := NewLogWriter(l, Options{IDPrefix: "p-"})
			must(t, send(lw))
			must(t, send(lw))
			logged[i] = fmt.Sprintf("%v %q", l.ids, l.frames)
		}
		if out[0] != out[1] || out[0] != out[2] {
			t.Fatalf("SendLine   %q\nSendAppend %q\nSendText   %q", out[0], out[1], out[2])
		}
		if logged[0] != logged[1] || logged[0] != logged[2] {
			t.Fatalf("logged SendLine   %q\nlogged SendAppend %q\nlogged SendText   %q", logged[0], logged[1], logged[2])
		}
	})
}

// TestSendAppendRefuses: a bad event name, or a closed Writer, is refused
// before data is asked for, and the Writer stays usable (not locked).
func TestSendAppendRefuses(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec, Options{KeepAlive: -1})
	called := false
	data := func(b []byte) []byte { called = true; return append(b, "x"...) }
	if err := w.SendAppend("a\nb", data); err == nil || called {
		t.Fatalf("event name with a line break: err %v, data called %v", err, called)
	}
	must(t, w.SendAppend("", data))
	w.Close()
	called = false
	if err := w.SendAppend("", data); !errors.Is(err, ErrClosed) || called {
		t.Fatalf("after Close: err %v, data called %v", err, called)
	}
	if got, want := rec.Body.String(), "id: 1\ndata: x\n\n"; got != want {
		t.Fatalf("wrote %q, want %q", got, want)
	}
}

// TestSendAppendAllocs: an event appended into a grown buffer allocates
// nothing.
func TestSendAppendAllocs(t *testing.T) {
	w := NewWriter(httptest.NewRecorder(), Options{KeepAlive: -1})
	defer w.Close()
	text := strings.Repeat("t", 200)
	data := func(b []byte) []byte { return append(b, text...) }
	if n := testing.AllocsPerRun(100, func() { w.SendAppend("", data) }); n != 0 {
		t.Fatalf("SendAppend allocates %v times", n)
	}
}

// TestEventNamesAllocs: a stream's event names (the Messages API's seven)
// take one allocation in all, however they grow.
func TestEventNamesAllocs(t *testing.T) {
	names := []string{"message_start", "ping", "content_block_start", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}
	w := NewWriter(httptest.NewRecorder(), Options{KeepAlive: -1})
	defer w.Close()
	data := func(b []byte) []byte { return append(b, "{}"...) }
	n := testing.AllocsPerRun(20, func() {
		w.nameLine, w.ownLine, w.name = nil, nil, ""
		for _, name := range names {
			w.SendAppend(name, data)
		}
	})
	if n != 1 {
		t.Fatalf("a stream's names allocate %v times, want 1", n)
	}
}

// TestWriterNames: a Writer given Names writes the bytes one without
// them does, allocates nothing for their lines, refuses a name with a
// line break all the same, and a name not among them (its line the
// Writer's own) leaves theirs as they were.
func TestWriterNames(t *testing.T) {
	names := NewNames("message_start", "ping", "bad\nname", "content_block_delta")
	events := []string{"message_start", "ping", "content_block_delta", "content_block_delta", "other", "", "ping", "a_much_longer_name_than_any", "message_start"}
	write := func(n *Names) string {
		rec := httptest.NewRecorder()
		w := NewWriter(rec, Options{KeepAlive: -1})
		if n != nil {
			w.SetNames(n)
		}
		for i, name := range events {
			if err := w.SendString(name, fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.SendString("bad\nname", "x"); err == nil {
			t.Error("a name with a line break was written")
		}
		w.Close()
		return rec.Body.String()
	}
	if got, want := write(names), write(nil); got != want {
		t.Errorf("with names:\n%s\nwithout:\n%s", got, want)
	}
	if got, want := write(names), write(nil); got != want { // names' lines unchanged by the first
		t.Errorf("again with names:\n%s\nwithout:\n%s", got, want)
	}

	w := NewWriter(httptest.NewRecorder(), Options{KeepAlive: -1})
	defer w.Close()
	w.SetNames(names)
	data := func(b []byte) []byte { return append(b, "{}"...) }
	n := testing.AllocsPerRun(20, func() {
		w.nameLine, w.ownLine, w.name = nil, nil, "" // as TestEventNamesAllocs: one without names
		for _, name := range events[:3] {
			w.SendAppend(name, data)
		}
	})
	if n != 0 {
		t.Errorf("names' lines allocate %v times, want 0", n)
	}
}

// A TextEvent whose lines are shorter than its name's, or whose end has
// no blank line, is refused, not sliced past its end.
func TestSendTextMalformed(t *testing.T) {
	for _, e := range []*TextEvent{
		{Name: "delta", Lines: []byte("data: {")},
		{Lines: []byte("data"), End: "}\n\n"},
		{Lines: []byte("data: {"), End: "\n"},
	} {
		rec := httptest.NewRecorder()
		w := NewWriter(rec, Options{KeepAlive: -1})
		if err := w.SendText(e, "x"); err != errTextEvent {
			t.Fatalf("%+v: %v", e, err)
		}
		w.Close()
	}
}

// SendText's ids are SendLine's through every carry (9 to 10, 99 to 100,
// 999 to 1000), for prefixes whose line fits the Writer's array and one
// that does not, a buffer with room and without (a flush after some
// events, not others), and with ids omitted.
func TestSendTextIDs(t *testing.T) {
	for _, o := range []Options{{}, {IDPrefix: "rs_0123456789-"}, {IDPrefix: strings.Repeat("x", 30)}, {OmitIDs: true}, {LastID: 97}} {
		o.KeepAlive, o.DeferFlush = -1, true
		var out [2]string
		for i := range 2 {
			rec := httptest.NewRecorder()
			w := NewWriter(rec, o)
			e := NewTextEvent("delta", []byte(`{"t":`), "}")
			for n := range 1200 {
				var err error
				if i == 0 {
					err = w.SendLine("delta", []byte(`{"t":"ab"}`))
				} else {
					err = w.SendText(e, "ab")
				}
				must(t, err)
				if n%23 == 0 {
					must(t, w.Flush())
				}
			}
			w.Close()
			out[i] = rec.Body.String()
		}
		if out[0] != out[1] {
			t.Fatalf("%+v: SendText's stream differs from SendLine's", o)
		}
	}
}

// SendText grows its Writer's buffer only for events that do not fit,
// as SendAppend does: an event that fits the buffer but not the room its
// common run asks for (the next id line and a short text) is appended in
// place, the buffer not grown for it. A buffer of 512 bytes holds two
// events of 250.
func TestSendTextRoom(t *testing.T) {
	w := NewWriter(httptest.NewRecorder(), Options{KeepAlive: -1, DeferFlush: true})
	defer w.Close()
	e := NewTextEvent("", []byte(strings.Repeat("h", 200-len("data: "))), strings.Repeat("t", 38))
	must(t, w.SendText(e, "x"))
	must(t, w.Flush())
	c := cap(w.buf)
	n := testing.AllocsPerRun(100, func() {
		w.SendText(e, "ab")
		w.SendText(e, "ab")
		w.Flush()
	})
	if n != 0 || cap(w.buf) != c {
		t.Fatalf("two events in a buffer of %d: %v allocations, capacity %d after", c, n, cap(w.buf))
	}
}
