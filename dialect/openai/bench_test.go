package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

func BenchmarkEncodeDelta(b *testing.B) {
	enc := newChunkEncoder("chatcmpl-0123456789abcdef", "mock/default", 1700000000, false)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.AppendDelta(buf[:0], stream.Output, " token", "")
	}
}

// countStream yields n deltas then a finish, without allocating.
type countStream struct{ n int }

func (s *countStream) Recv() (stream.Event, error) {
	switch {
	case s.n > 0:
		s.n--
		return stream.Delta(" token"), nil
	case s.n == 0:
		s.n--
		return stream.Finished(stream.FinishStop), nil
	}
	return stream.Event{}, io.EOF
}
func (s *countStream) Close() error { return nil }

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

// BenchmarkServerStreamPerToken measures the server's per-token path: one
// op is one token encoded, written and flushed.
func BenchmarkServerStreamPerToken(b *testing.B) {
	gw := &testGateway{providers: map[string]stream.Provider{"m": stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return &countStream{n: b.N}, nil
	})}}
	srv := NewServer(gw, Options{KeepAlive: -1})
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`
	r, _ := http.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
	b.ReportAllocs()
	b.ResetTimer()
	srv.ChatCompletions(&discardWriter{h: http.Header{}}, r)
}

// BenchmarkProviderDecodePerToken measures the upstream side: one op is one
// content chunk read and decoded into an event.
func BenchmarkProviderDecodePerToken(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-0123456789abcdef","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	body := bytes.Repeat(chunk, b.N)
	s := &upstreamStream{ctx: context.Background(), body: io.NopCloser(bytes.NewReader(body)), events: sse.NewReader(bytes.NewReader(body))}
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		if ev, err := s.Recv(); err != nil || ev.Kind != stream.KindDelta {
			b.Fatal(ev, err)
		}
	}
}

// BenchmarkResponsesStreamPerToken is BenchmarkServerStreamPerToken for
// POST /v1/responses: one op is one output_text.delta event encoded,
// written and flushed (and its text kept for response.completed).
func BenchmarkResponsesStreamPerToken(b *testing.B) {
	gw := &testGateway{providers: map[string]stream.Provider{"m": stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return &countStream{n: b.N}, nil
	})}}
	srv := NewServer(gw, Options{KeepAlive: -1})
	r, _ := http.NewRequest("POST", "/v1/responses", strings.NewReader(`{"model":"m","input":"hi","stream":true}`))
	b.ReportAllocs()
	b.ResetTimer()
	srv.Responses(&discardWriter{h: http.Header{}}, r)
}

// BenchmarkStreamedCall compares one whole streamed call of 16 tokens on
// each endpoint: request decoding, the events around the tokens, and the
// tokens.
func BenchmarkStreamedCall(b *testing.B) {
	gw := &testGateway{providers: map[string]stream.Provider{"m": stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
		return &countStream{n: 16}, nil
	})}}
	srv := NewServer(gw, Options{KeepAlive: -1})
	for _, c := range []struct {
		name, path, body string
		serve            http.HandlerFunc
	}{
		{"chat", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`, srv.ChatCompletions},
		{"responses", "/v1/responses", `{"model":"m","input":"hi","stream":true}`, srv.Responses}, // stored, the default
		{"responses_nostore", "/v1/responses", `{"model":"m","input":"hi","stream":true,"store":false}`, srv.Responses},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, _ := http.NewRequest("POST", c.path, strings.NewReader(c.body))
				c.serve(&discardWriter{h: http.Header{}}, r)
			}
		})
	}
}

// benchChat is the load generator's chat request (bench.chatBody).
const benchChat = `{"model":"openai/default","messages":[{"role":"user","content":"Tell me a story."}],"stream":true,"stream_options":{"include_usage":true}}`

// BenchmarkDecodeChat is a chat request's decoding and validation, with
// encoding/json alone (as before the scanner) and as the server does it.
func BenchmarkDecodeChat(b *testing.B) {
	s := &Server{opts: Options{BodyLimit: 1 << 20}}
	for _, d := range []struct {
		name   string
		decode func(w http.ResponseWriter, r *http.Request, c *ChatRequest) *stream.Error
	}{
		{"encoding-json", func(w http.ResponseWriter, r *http.Request, c *ChatRequest) *stream.Error {
			return dialect.DecodeJSON(w, r, 1<<20, c)
		}},
		{"server", func(w http.ResponseWriter, r *http.Request, c *ChatRequest) *stream.Error {
			return s.decodeHeld(w, r, c)
		}},
	} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var c ChatRequest
				r := &http.Request{Body: io.NopCloser(strings.NewReader(benchChat)), ContentLength: int64(len(benchChat))}
				if d.decode(nil, r, &c) != nil {
					b.Fatal("decoding failed")
				}
				if _, err := c.ToRequest(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChatBody is the upstream body of the load generator's request,
// from encoding/json and as the provider writes it.
func BenchmarkChatBody(b *testing.B) {
	req := &stream.Request{Model: "default", Messages: []stream.Message{{Role: "user", Content: "Tell me a story."}}, Sampling: stream.Sampling{MaxTokens: 256}}
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(upstreamChat(req))
		}
	})
	b.Run("appended", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ := chatBody(req)
			dialect.PutBuffer(buf)
		}
	})
}
