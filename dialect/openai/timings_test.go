package openai

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/stream"
)

// A provider that measured its own speed (the engine) gets llama.cpp's
// timings on the finish chunk, the usage chunk and the whole answer; an
// estimated usage gets none.
func TestTimings(t *testing.T) {
	measured := stream.Usage{PromptTokens: 5, CompletionTokens: 4, PromptDuration: 10 * time.Millisecond, GenerationDuration: 200 * time.Millisecond}
	events := func(u stream.Usage) stream.Provider {
		return sliceProvider(stream.Delta("a"), stream.Delta("b"), stream.UsageEvent(u), stream.Finished(stream.FinishStop))
	}
	estimated := measured
	estimated.Estimated = true
	srv, _ := newTestServer(t, map[string]stream.Provider{"engine": events(measured), "upstream": events(estimated)})
	want := Timings{PromptN: 5, PromptMS: 10, PromptPerSecond: 500, PredictedN: 4, PredictedMS: 200, PredictedPerTokenMS: 50, PredictedPerSecond: 20}

	_, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"engine","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	var withTimings int
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Timings *Timings `json:"timings"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		final := len(c.Choices) == 0 || c.Choices[0].FinishReason != nil
		if (c.Timings != nil) != final {
			t.Fatalf("timings on %s; want them on the finish and usage chunks only", data)
		}
		if c.Timings != nil {
			withTimings++
			if *c.Timings != want {
				t.Fatalf("timings %+v, want %+v", *c.Timings, want)
			}
		}
	}
	if withTimings != 2 {
		t.Fatalf("%d chunks with timings, want 2 (finish and usage):\n%s", withTimings, body)
	}

	_, body = post(t, srv.URL+"/v1/chat/completions", `{"model":"engine","messages":[{"role":"user","content":"hi"}]}`)
	var whole ChatCompletion
	if err := json.Unmarshal([]byte(body), &whole); err != nil || whole.Timings == nil || *whole.Timings != want {
		t.Fatalf("non-streamed timings %+v (%v) in %s", whole.Timings, err, body)
	}

	_, body = post(t, srv.URL+"/v1/chat/completions", `{"model":"upstream","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	if strings.Contains(body, "timings") {
		t.Fatalf("an estimated usage got timings:\n%s", body)
	}
}
