package ollama

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

const benchTokens = 256

func benchEvents() []stream.Event {
	evs := make([]stream.Event, 0, benchTokens+2)
	for range benchTokens {
		evs = append(evs, stream.Delta(" token"))
	}
	return append(evs, stream.UsageEvent(stream.Usage{PromptTokens: 5, CompletionTokens: benchTokens}), stream.Finished(stream.FinishStop))
}

// BenchmarkChatStream runs /api/chat end to end (decode, gateway call,
// NDJSON encoding, one flush per line) for a 256-token answer.
func BenchmarkChatStream(b *testing.B) {
	mux := http.NewServeMux()
	NewServer(&dialecttest.Gateway{Events: benchEvents()}, Options{}).Register(mux)
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		w := &dialecttest.Discard{}
		mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/chat", strings.NewReader(body)))
		if w.Flushes != benchTokens+1 {
			b.Fatalf("%d flushes", w.Flushes)
		}
	}
	b.ReportMetric(float64(b.N*benchTokens)/time.Since(start).Seconds(), "tokens/s")
}

// BenchmarkLineEncode is one content line, appended into a reused buffer as
// the encoder does; BenchmarkLineMarshal is the json.Marshal baseline.
func BenchmarkLineEncode(b *testing.B) {
	e := &encoder{model: "llama3.2:latest", chat: true, streamed: true, w: &dialecttest.Discard{}}
	e.wrote = true
	b.ReportAllocs()
	for b.Loop() {
		e.delta(stream.Output, " token")
	}
}

func BenchmarkLineMarshal(b *testing.B) {
	b.ReportAllocs()
	w := &dialecttest.Discard{}
	for b.Loop() {
		c := Chunk{Model: "llama3.2:latest", CreatedAt: time.Now().UTC().Format(time.RFC3339Nano), Message: &Message{Role: "assistant", Content: " token"}}
		line, _ := json.Marshal(c)
		w.Write(append(line, '\n'))
	}
}

// benchAnswer is a one-token answer, as Ollama streams it.
const benchAnswer = `{"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"Hello"},"done":false}` + "\n" +
	`{"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":1}` + "\n"

// BenchmarkProviderCall is one streamed call of one token through the
// provider, over a canned upstream (no sockets): the provider's own work
// per call (the request, the stream and its reader, the answer's end).
// With callgrind, two runs of different -benchtime give its
// instructions per call (docs/benchmarks.md, tidy session).
func BenchmarkProviderCall(b *testing.B) {
	p := NewProvider(Config{BaseURL: "http://upstream", HTTPClient: &http.Client{Transport: dialecttest.Canned{Body: []byte(benchAnswer)}}})
	req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "Tell me a story."}}}
	dialecttest.Calls(b, p, req, 3)
}

// BenchmarkProviderCall50 is BenchmarkProviderCall with a 50-token answer
// (the gateway benchmarks' length): against it, the provider's work per
// token.
func BenchmarkProviderCall50(b *testing.B) {
	line := `{"model":"m","created_at":"2025-01-01T00:00:00.000000Z","message":{"role":"assistant","content":" token"},"done":false}` + "\n"
	answer := strings.Repeat(line, 49) + benchAnswer
	p := NewProvider(Config{BaseURL: "http://upstream", HTTPClient: &http.Client{Transport: dialecttest.Canned{Body: []byte(answer)}}})
	req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "Tell me a story."}}}
	dialecttest.Calls(b, p, req, 52)
}

// BenchmarkProviderCall50Lines is BenchmarkProviderCall50 with one line a
// read, as Ollama flushes each token (Canned without Lines finds no blank
// line in NDJSON, so the body comes a buffer at a time): against
// BenchmarkProviderCall, the provider's work per token read as it comes.
func BenchmarkProviderCall50Lines(b *testing.B) {
	line := `{"model":"m","created_at":"2025-01-01T00:00:00.000000Z","message":{"role":"assistant","content":" token"},"done":false}` + "\n"
	answer := strings.Repeat(line, 49) + benchAnswer
	p := NewProvider(Config{BaseURL: "http://upstream", HTTPClient: &http.Client{Transport: dialecttest.Canned{Body: []byte(answer), Lines: true}}})
	req := &stream.Request{Model: "m", Messages: []stream.Message{{Role: stream.RoleUser, Content: "Tell me a story."}}}
	dialecttest.Calls(b, p, req, 52)
}
