package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/dialect/gemini"
	"github.com/runnel/runnel/dialect/ollama"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/engine"
	"github.com/runnel/runnel/internal/testmodels"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// The gateway gives a provider a shallow copy of the admitted request
// (its own Model and MaxTokens), sharing the messages, tools, stop
// sequences, metadata and format with the call's record and with a
// fallback's later targets: every provider must only read them. Each
// provider here streams requests of every shape it handles (tool turns,
// an answer begun, a JSON format, the sampling pointers) to their end,
// and the request's JSON must be what it was; a provider that rewrote a
// message, a tool, a stop sequence or the format in place fails it. The
// engine, which needs a model file, is TestEngineLeavesTheRequestAsItWas.
func TestProvidersLeaveTheRequestAsItWas(t *testing.T) {
	up := &dialecttest.Gateway{Provider: mock.New(mock.Options{Tokens: 3})}
	serve := func(register func(*http.ServeMux)) string {
		mux := http.NewServeMux()
		register(mux)
		ts := httptest.NewServer(mux)
		t.Cleanup(ts.Close)
		return ts.URL
	}
	oa := serve(openai.NewServer(up, openai.Options{}).Register)
	an := serve(anthropic.NewServer(up, anthropic.Options{}).Register)
	ol := serve(ollama.NewServer(up, ollama.Options{}).Register)
	gem, err := os.ReadFile("../dialect/gemini/testdata/tool.sse")
	if err != nil {
		t.Fatal(err)
	}
	providers := map[string]stream.Provider{
		"mock":      mock.New(mock.Options{Tokens: 3}),
		"openai":    openai.NewProvider(openai.Config{BaseURL: oa + "/v1"}),
		"anthropic": anthropic.NewProvider(anthropic.Config{BaseURL: an}),
		"ollama":    ollama.NewProvider(ollama.Config{BaseURL: ol}),
		"gemini": gemini.NewProvider(gemini.Config{BaseURL: "http://gemini.invalid/v1beta",
			HTTPClient: &http.Client{Transport: dialecttest.Canned{Body: gem}}}),
	}
	for name, p := range providers {
		leavesRequests(t, name, p, "default")
	}
}

// The engine's request paths copy before they change anything
// (buildPrompt, answerBegun), on the shared test model (skipped without
// it).
func TestEngineLeavesTheRequestAsItWas(t *testing.T) {
	e, err := engine.New(engine.Options{ModelsDir: testmodels.Dir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	leavesRequests(t, "engine", e, "stories260K")
}

// leavesRequests streams each of sharedRequests, on model, through p to
// its end, failing t if a request's JSON changed; p must stream at least
// two of them.
func leavesRequests(t *testing.T, name string, p stream.Provider, model string) {
	t.Helper()
	streamed := 0
	for i, req := range sharedRequests() {
		req.Model = model
		before, _ := json.Marshal(req)
		if s, err := p.Stream(context.Background(), req); err == nil {
			if evs, err := dialecttest.ReadAll(s); err == nil && len(evs) > 0 {
				streamed++
			}
		}
		if after, _ := json.Marshal(req); string(after) != string(before) {
			t.Errorf("%s changed request %d:\nbefore %s\nafter  %s", name, i, before, after)
		}
	}
	if streamed < 2 {
		t.Errorf("%s streamed %d of the requests: the test reads too little", name, streamed)
	}
}

// sharedRequests are requests of the shapes providers rewrite for their
// upstreams.
func sharedRequests() []*stream.Request {
	temp, seed, strict := 0.5, int64(7), true
	tools := []stream.Tool{{Name: "weather", Description: "the weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}
	turns := []stream.Message{
		{Role: "system", Content: "Be brief.  "},
		{Role: "user", Content: "Weather in Paris?\n", Name: "ann"},
		{Role: "assistant", Thinking: "look it up", ToolCalls: []stream.ToolCall{{ID: "c1", Name: "weather", Arguments: `{"city":"Paris"}`}}},
		{Role: "tool", Content: `{"sky":"clear"}`, ToolCallID: "c1"},
		{Role: "user", Content: "And tomorrow?"},
	}
	return []*stream.Request{
		{Model: "default", Messages: []stream.Message{{Role: "user", Content: "Tell me a story."}}},
		{Model: "default", Messages: turns, Tools: tools, ToolChoice: "auto",
			Sampling: stream.Sampling{MaxTokens: 20, Temperature: &temp, Seed: &seed, Stop: []string{"\n\n", "END"}},
			Metadata: map[string]string{"user_id": "u1"}},
		{Model: "default", Messages: []stream.Message{
			{Role: "user", Content: "Tell me a story."},
			{Role: "assistant", Content: "Once upon a time  \n"}, // an answer begun
		}, Thinking: true},
		{Model: "default", Messages: turns[:2], ResponseFormat: &stream.ResponseFormat{
			Type: stream.FormatJSONSchema, Name: "w", Schema: json.RawMessage(`{"type":"object"}`), Strict: &strict}},
		{Model: "default", Prompt: "Once upon", RawPrompt: true, Sampling: stream.Sampling{Stop: []string{"."}}},
	}
}
