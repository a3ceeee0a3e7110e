package anthropic

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// benchMessages is the load generator's Messages request (bench.messagesBody).
const benchMessages = `{"model":"anthropic/default","max_tokens":256,"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a story."}]}],"stream":true}`

// BenchmarkDecodeMessages is a Messages request's decoding and
// validation, with encoding/json alone (as before the scanner) and as the
// server does it.
func BenchmarkDecodeMessages(b *testing.B) {
	s := &Server{opts: Options{BodyLimit: 1 << 20}}
	for _, d := range []struct {
		name   string
		decode func(w http.ResponseWriter, r *http.Request, m *MessagesRequest) *stream.Error
	}{
		{"encoding-json", func(w http.ResponseWriter, r *http.Request, m *MessagesRequest) *stream.Error {
			return dialect.DecodeJSON(w, r, 1<<20, m)
		}},
		{"server", func(w http.ResponseWriter, r *http.Request, m *MessagesRequest) *stream.Error {
			return s.decodeHeld(w, r, m)
		}},
	} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var m MessagesRequest
				r := &http.Request{Body: io.NopCloser(strings.NewReader(benchMessages)), ContentLength: int64(len(benchMessages))}
				if d.decode(nil, r, &m) != nil {
					b.Fatal("decoding failed")
				}
				if _, err := m.toRequest(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRequestBody is the upstream body of the load generator's
// request: from encoding/json, appended from its MessagesRequest, and as
// the provider writes it (straight from the request: appendPlainBody).
func BenchmarkRequestBody(b *testing.B) {
	req := &stream.Request{Model: "default", Messages: []stream.Message{{Role: "user", Content: "Tell me a story."}}, Sampling: stream.Sampling{MaxTokens: 256}}
	p := NewProvider(Config{BaseURL: "http://up"})
	m := p.upstreamRequest(req)
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(m)
		}
	})
	b.Run("appended", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ := requestBody(dialect.GetBuffer(0), m)
			dialect.PutBuffer(buf)
		}
	})
	b.Run("provider", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ := p.body(req)
			dialect.PutBuffer(buf)
		}
	})
}

// BenchmarkEscapedDeltas reads a stream of 50 text deltas whose texts
// have an escape (a line break), which the token path leaves to Recv:
// each read by NextRaw and decoded. A fixed event's shape tried before
// each (see fixedevents.go) would cost each about a hundred
// instructions more (docs/benchmarks.md, issue 13, anthcall session).
func BenchmarkEscapedDeltas(b *testing.B) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	body := ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}`) +
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) +
		strings.Repeat(ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\nb"}}`), 50) +
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`) +
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":50}}`) +
		ev("message_stop", `{"type":"message_stop"}`)
	b.ReportAllocs()
	for b.Loop() {
		e := new(events)
		e.r = newReader(strings.NewReader(body))
		for {
			evs, err := e.ReadEvents()
			if err != nil {
				b.Fatal(err)
			}
			if finishes(evs) {
				break
			}
		}
	}
}
