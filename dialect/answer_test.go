package dialect

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/stream"
)

// notesOf encodes events as noting logs them.
func notesOf(evs ...stream.Event) []byte {
	var b []byte
	for _, ev := range evs {
		e := noted{Thinking: ev.Channel == stream.Thinking, Text: ev.Text, ToolCall: ev.ToolCall}
		j, _ := json.Marshal(e)
		b = append(append(b, j...), '\n')
	}
	return b
}

// The answer so far is rebuilt from the notes exactly: the events in
// order, the text by channel, the tool calls merged.
func TestAnswerOf(t *testing.T) {
	notes := notesOf(stream.ThinkingDelta("Let me"), stream.Delta("Hel"), stream.Delta("lo \"\n"),
		stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{ID: "c1", Name: "f"}},
		stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{Arguments: `{"a":1}`}})
	a := answerOf(notes)
	if a.text != "Hello \"\n" || a.thinking != "Let me" || len(a.events) != 5 ||
		len(a.toolCalls) != 1 || a.toolCalls[0].Name != "f" || a.toolCalls[0].Arguments != `{"a":1}` {
		t.Fatalf("answer %+v", a)
	}
	if a.events[0].Channel != stream.Thinking || a.events[2].Text != "lo \"\n" || a.events[3].Kind != stream.KindToolCall {
		t.Fatalf("events %+v", a.events)
	}
	// A torn or foreign note ends the answer there; it never panics.
	if a := answerOf(append(notesOf(stream.Delta("ok")), `{"t":`...)); a.text != "ok" || len(a.events) != 1 {
		t.Fatalf("torn notes: %+v", a)
	}
}

// Notes come from Redis, written by another replica: whatever they hold,
// rebuilding the answer does not panic, and its text is its events'.
func FuzzAnswerOf(f *testing.F) {
	f.Add(notesOf(stream.Delta("a"), stream.ThinkingDelta("b")))
	f.Add([]byte(`{"c":{"arguments":"x"}}` + "\n" + `{"t":"y"}`))
	f.Add([]byte(`{"c":null,"h":true}[]`))
	f.Fuzz(func(t *testing.T, notes []byte) {
		a := answerOf(notes)
		var text string
		for _, ev := range a.events {
			if ev.Kind == stream.KindDelta && ev.Channel != stream.Thinking {
				text += ev.Text
			}
		}
		if text != a.text {
			t.Fatalf("text %q, events' %q", a.text, text)
		}
	})
}

// tokens is an endless stream of one-token deltas.
type tokens struct{}

func (tokens) Recv() (stream.Event, error) { return stream.Delta(" token"), nil }
func (tokens) Close() error                { return nil }

// BenchmarkNoting is the dialect layer's added cost per token of a
// resumable stream (encoding the content event as a note), against the
// bare stream: with no shared log, Session.Note keeps nothing.
func BenchmarkNoting(b *testing.B) {
	reg := resume.NewRegistry(resume.Options{})
	sess, _ := reg.Open("", "k", func() {})
	defer sess.Cancel()
	for _, c := range []struct {
		name string
		s    stream.Stream
	}{{"bare", tokens{}}, {"noting", &noting{Stream: tokens{}, sess: sess}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				c.s.Recv()
			}
		})
	}
}

// A resumable request's origin keeps its body (still readable by its
// handler) and headers, without credentials.
func TestWithOrigin(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/chat/completions?x=1", strings.NewReader(`{"model":"m"}`))
	r.Header.Set("Authorization", "Bearer rk_secret")
	r.Header.Set("X-API-Key", "rk_secret")
	r.Header.Set("Cookie", "s=1")
	r.Header.Set(ResumableHeader, "true")
	r = withOrigin(r)
	body, _ := io.ReadAll(r.Body)
	o := originFrom(r.Context())
	if string(body) != `{"model":"m"}` || o == nil || string(o.Body) != `{"model":"m"}` || o.Method != "POST" || o.URI != "/v1/chat/completions?x=1" {
		t.Fatalf("body %q, origin %+v", body, o)
	}
	b, _ := json.Marshal(o)
	if strings.Contains(string(b), "rk_secret") || strings.Contains(string(b), "s=1") || o.Header.Get(ResumableHeader) != "true" {
		t.Fatalf("origin %s: want the headers without credentials", b)
	}
	if r.Header.Get("Authorization") == "" {
		t.Fatal("the request itself lost its credentials")
	}
}
