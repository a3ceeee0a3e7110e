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
			_, err := s.decode(w, r, m)
			return err
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
