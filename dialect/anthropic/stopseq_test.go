package anthropic

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// mockGateway is a real gateway over the mock provider, so the stop
// control's report of which sequence matched goes through the whole
// pipeline (Stop, Normalize, meter) to the encoder. Unbuffered, the mock
// generates nothing past the stop, so the usage is exact.
func mockGateway(t *testing.T) string {
	r := gateway.NewStaticRouter()
	r.Register("mock", mock.New(mock.Options{}))
	srv := dialecttest.Serve(t, NewServer(gateway.New(gateway.Options{Router: r, BufferSize: -1}), Options{}).Register)
	return srv.URL
}

const stopModel = "mock/default?text="

func TestStopSequenceStreamed(t *testing.T) {
	base := mockGateway(t)
	model := stopModel + url.QueryEscape("one two END three four")
	body := `{"model":` + quoteJSON(model) + `,"max_tokens":50,"stream":true,"stop_sequences":["ZZZ","END"],"messages":[{"role":"user","content":"hi"}]}`
	resp := post(t, base+"/v1/messages", body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := frames(t, resp.Body)
	// The prompt "hi" is one token; "one", " two" and " END" were generated.
	want := `message_delta|{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"input_tokens":1,"output_tokens":3}}`
	if len(got) < 2 || got[len(got)-2] != want || got[len(got)-1] != `message_stop|{"type":"message_stop"}` {
		t.Fatalf("frames:\n%v\nwant message_delta %s", got, want)
	}
}

func TestStopSequenceNotStreamed(t *testing.T) {
	base := mockGateway(t)
	for _, tt := range []struct {
		text, reason string
		seq          *string
		content      string
	}{
		{"one two END three", "stop_sequence", ptr("END"), "one two "},
		{"one two", "end_turn", nil, "one two"}, // no stop matched: stop_sequence stays null
	} {
		body := `{"model":` + quoteJSON(stopModel+url.QueryEscape(tt.text)) + `,"max_tokens":50,"stop_sequences":["END"],"messages":[{"role":"user","content":"hi"}]}`
		resp := post(t, base+"/v1/messages", body)
		var msg MessageResponse
		err := json.NewDecoder(resp.Body).Decode(&msg)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%q: status %d, %v", tt.text, resp.StatusCode, err)
		}
		if msg.StopReason == nil || *msg.StopReason != tt.reason || (msg.StopSequence == nil) != (tt.seq == nil) ||
			(tt.seq != nil && *msg.StopSequence != *tt.seq) {
			t.Fatalf("%q: stop_reason %v stop_sequence %v, want %s %v", tt.text, deref(msg.StopReason), deref(msg.StopSequence), tt.reason, deref(tt.seq))
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != tt.content {
			t.Fatalf("%q: content %+v", tt.text, msg.Content)
		}
	}
}

func ptr(s string) *string { return &s }

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The upstream client passes on which stop sequence Anthropic says ended
// the message.
func TestProviderStopSequence(t *testing.T) {
	ts := httptest.NewServer(&fakeAnthropic{body: dialecttest.Fixture(t, "stream_stop_sequence.sse")})
	defer ts.Close()
	s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Prompt: "count", RawPrompt: true,
		Sampling: stream.Sampling{MaxTokens: 50, Stop: []string{"three"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := dialecttest.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []stream.Event{stream.Delta("one, two, "), stream.UsageEvent(stream.Usage{PromptTokens: 12, CompletionTokens: 6}), stream.StoppedBy("three")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
}
