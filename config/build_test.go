package config_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// fakeOpenAI answers one streamed chat completion and remembers what it got.
type fakeOpenAI struct {
	*httptest.Server
	mu     sync.Mutex
	path   string
	auth   string
	header string
}

func newFakeOpenAI(t *testing.T) *fakeOpenAI {
	f := &fakeOpenAI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.path, f.auth, f.header = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-Team")
		f.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(f.Close)
	return f
}

func TestBuiltProvidersReachTheirUpstream(t *testing.T) {
	up := newFakeOpenAI(t)
	tests := []struct {
		name, yaml string
		env        func(string) string
		provider   string
		wantAuth   string
		wantHeader string
	}{
		{
			name:     "OPENAI_BASE_URL alone",
			env:      env("OPENAI_BASE_URL", up.URL+"/v1"),
			provider: "openai",
		},
		{
			name:     "OPENAI_BASE_URL and OPENAI_API_KEY",
			env:      env("OPENAI_BASE_URL", up.URL+"/v1", "OPENAI_API_KEY", "sk-env"),
			provider: "openai", wantAuth: "Bearer sk-env",
		},
		{
			name:     "named provider with api_key_env and headers",
			yaml:     "providers:\n  vllm:\n    type: openai\n    base_url: " + up.URL + "/v1\n    api_key_env: VLLM_KEY\n    headers: {X-Team: research}\n",
			env:      env("VLLM_KEY", "sk-vllm"),
			provider: "vllm", wantAuth: "Bearer sk-vllm", wantHeader: "research",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := c.BuildProviders(tt.env, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := ps[tt.provider]
			if p == nil {
				t.Fatalf("no provider %q in %v", tt.provider, ps)
			}
			s, err := p.Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: "hello"}}})
			if err != nil {
				t.Fatal(err)
			}
			r := stream.Collect(s)
			if r.Text != "hi" || r.Finish != stream.FinishStop || r.Usage == nil || r.Usage.PromptTokens != 3 || r.Usage.CompletionTokens != 1 {
				t.Fatalf("result %+v (usage %+v)", r, r.Usage)
			}
			up.mu.Lock()
			defer up.mu.Unlock()
			if up.path != "/v1/chat/completions" || up.auth != tt.wantAuth || up.header != tt.wantHeader {
				t.Fatalf("upstream got path %q auth %q X-Team %q", up.path, up.auth, up.header)
			}
		})
	}
}

func TestBuildMockWithKnobs(t *testing.T) {
	c, err := load(t, "providers:\n  fast:\n    type: mock\n    mock: {text: 'one two three', tokens: '2'}\n", env())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.BuildProviders(env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ps["fast"].Stream(context.Background(), &stream.Request{Model: "default", Messages: []stream.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := stream.Collect(s); r.Text != "one two" || r.Usage.CompletionTokens != 2 {
		t.Fatalf("mock with knobs said %q, usage %+v", r.Text, r.Usage)
	}
	if ps["mock"] == nil || ps["ollama"] == nil {
		t.Fatalf("default providers missing: %v", ps)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"api_key_env unset", "providers: {x: {type: openai, base_url: 'http://h', api_key_env: NOPE_KEY}}\n", "providers.x.api_key_env: NOPE_KEY is not set"},
		{"bad mock knob", "providers: {x: {type: mock, mock: {tokens: many}}}\n", "providers.x.mock:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, env())
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.BuildProviders(env(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

// think: true splits inline <think> tags for every model of a provider;
// think: [names] only for those models. The tags are cut across tokens by
// the mock's word-ish tokenizer, which the split must survive.
func TestBuildThink(t *testing.T) {
	const text = "<think>Weighing it up.</think>The answer."
	ask := func(p stream.Provider, model string) stream.Result {
		t.Helper()
		s, err := p.Stream(context.Background(), &stream.Request{Model: model + "?text=" + strings.ReplaceAll(text, " ", "%20"), Messages: []stream.Message{{Role: "user", Content: "hi"}}})
		if err != nil {
			t.Fatal(err)
		}
		return stream.Collect(s)
	}
	tests := []struct {
		name, yaml, model string
		thinking, text    string
	}{
		{"all models", "providers: {r1: {type: mock, think: true}}\n", "any", "Weighing it up.", "The answer."},
		{"a listed model", "providers: {r1: {type: mock, think: [deepseek-r1, qwq]}}\n", "qwq", "Weighing it up.", "The answer."},
		{"an unlisted model", "providers: {r1: {type: mock, think: [deepseek-r1]}}\n", "llama3", "", text},
		{"off", "providers: {r1: {type: mock, think: false}}\n", "qwq", "", text},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, env())
			if err != nil {
				t.Fatal(err)
			}
			ps, err := c.BuildProviders(env(), nil)
			if err != nil {
				t.Fatal(err)
			}
			r := ask(ps["r1"], tt.model)
			if r.Thinking != tt.thinking || r.Text != tt.text {
				t.Fatalf("thinking %q, text %q; want %q, %q", r.Thinking, r.Text, tt.thinking, tt.text)
			}
			// The wrapper still answers for the mock's model list.
			if l, ok := ps["r1"].(interface {
				Models(context.Context) ([]gateway.ModelInfo, error)
			}); !ok {
				t.Fatal("the think wrapper hides the provider's model list")
			} else if ms, err := l.Models(context.Background()); err != nil || len(ms) == 0 {
				t.Fatalf("models through the wrapper: %v, %v", ms, err)
			}
		})
	}
	if _, err := load(t, "providers: {r1: {type: mock, think: {a: b}}}\n", env()); err == nil || !strings.Contains(err.Error(), "think must be true, false or a list") {
		t.Fatalf("a bad think value: %v", err)
	}
}

// Metrics name only the models the configuration names (and the engine's
// files); anything a client makes up is "other".
func TestKnownModels(t *testing.T) {
	c := config.Default()
	if err := c.Decode(strings.NewReader(`
providers:
  vllm: {type: openai, base_url: "http://127.0.0.1:1/v1", models: [llama3]}
aliases:
  fast: ["vllm/qwen?x=1", mock/fast]
prices:
  openai/gpt-4o-mini: {input: 1, output: 1}
  fast: {input: 1, output: 1}
`)); err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyEnv(func(k string) string { return map[string]string{"OPENAI_API_KEY": "k"}[k] }); err != nil {
		t.Fatal(err)
	}
	c.Server.ModelsDir = t.TempDir()
	providers, err := c.BuildProviders(func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	known := c.KnownModels(providers)
	for _, tc := range []struct {
		provider, model string
		want            bool
	}{
		{"vllm", "llama3", true}, {"vllm", "qwen", true}, {"mock", "fast", true}, {"mock", "default", true},
		{"openai", "gpt-4o-mini", true}, {"engine", "stories260K", true}, // the default model
		{"vllm", "made-up", false}, {"openai", "gpt-5-nope", false}, {"engine", "nosuch", false}, {"", "x", false}, {"fast", "fast", false},
	} {
		if got := known(tc.provider, tc.model); got != tc.want {
			t.Errorf("known(%q, %q) = %v, want %v", tc.provider, tc.model, got, tc.want)
		}
	}
}
