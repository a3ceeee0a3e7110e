package config_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func load(t *testing.T, yaml string, getenv func(string) string) (*config.Config, error) {
	t.Helper()
	c := config.Default()
	if err := c.Decode(strings.NewReader(yaml)); err != nil {
		return nil, err
	}
	if err := c.ApplyEnv(getenv); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

func TestProvidersFromEnvironment(t *testing.T) {
	mock := config.Provider{Type: "mock"}
	engine := config.Provider{Type: "engine"}
	ollama := config.Provider{Type: "ollama", BaseURL: "http://127.0.0.1:11434"}
	tests := []struct {
		name string
		yaml string
		env  func(string) string
		want map[string]config.Provider
	}{
		{
			name: "no config, no env: mock and local ollama",
			env:  env(),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": ollama},
		},
		{
			name: "OPENAI_BASE_URL alone routes openai/* there without a key",
			env:  env("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": ollama,
				"openai": {Type: "openai", BaseURL: "http://127.0.0.1:8000/v1"}},
		},
		{
			name: "OPENAI_API_KEY alone routes openai/* to api.openai.com",
			env:  env("OPENAI_API_KEY", "sk-test"),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": ollama,
				"openai": {Type: "openai", BaseURL: "https://api.openai.com/v1", APIKey: "sk-test"}},
		},
		{
			name: "OLLAMA_HOST host:port gets a scheme",
			env:  env("OLLAMA_HOST", "10.0.0.5:9999"),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": {Type: "ollama", BaseURL: "http://10.0.0.5:9999"}},
		},
		{
			name: "OLLAMA_HOST bind-all address and no port",
			env:  env("OLLAMA_HOST", "0.0.0.0"),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": ollama},
		},
		{
			name: "anthropic and gemini by key, with default endpoints",
			env:  env("ANTHROPIC_API_KEY", "a-key", "GEMINI_API_KEY", "g-key"),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": ollama,
				"anthropic": {Type: "anthropic", BaseURL: "https://api.anthropic.com", APIKey: "a-key"},
				"gemini":    {Type: "gemini", BaseURL: "https://generativelanguage.googleapis.com/v1beta", APIKey: "g-key"}},
		},
		{
			name: "anthropic and gemini by base URL",
			env:  env("ANTHROPIC_BASE_URL", "http://127.0.0.1:1/a", "GEMINI_BASE_URL", "http://127.0.0.1:2/g"),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": ollama,
				"anthropic": {Type: "anthropic", BaseURL: "http://127.0.0.1:1/a"},
				"gemini":    {Type: "gemini", BaseURL: "http://127.0.0.1:2/g"}},
		},
		{
			name: "env overrides the file's openai provider but keeps its headers",
			yaml: `
providers:
  openai:
    type: openai
    base_url: http://file.example/v1
    api_key_env: MY_KEY
    headers: {X-Team: research}
`,
			env: env("OPENAI_BASE_URL", "http://env.example/v1", "OPENAI_API_KEY", "sk-env"),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": ollama,
				"openai": {Type: "openai", BaseURL: "http://env.example/v1", APIKey: "sk-env", Headers: map[string]string{"X-Team": "research"}}},
		},
		{
			name: "named providers from the file",
			yaml: `
providers:
  vllm:
    type: openai
    base_url: http://127.0.0.1:8000/v1
    models: [llama-3.1-8b]
  fast:
    type: mock
    mock: {tokens: "5", itl: 1ms}
`,
			env: env(),
			want: map[string]config.Provider{"mock": mock, "engine": engine, "ollama": ollama,
				"vllm": {Type: "openai", BaseURL: "http://127.0.0.1:8000/v1", Models: []string{"llama-3.1-8b"}},
				"fast": {Type: "mock", Mock: map[string]string{"tokens": "5", "itl": "1ms"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Providers, tt.want) {
				t.Errorf("providers:\n got %+v\nwant %+v", c.Providers, tt.want)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  func(string) string
		want func(c *config.Config)
	}{
		{name: "defaults", env: env(), want: func(c *config.Config) {}},
		{
			name: "file",
			yaml: `
server:
  addr: 0.0.0.0:9000
  data_dir: /var/lib/runnel
  models_dir: /models
  body_limit: 2048
  keep_alive: 5s
  shutdown_grace: 1m
  resume_grace: 30s
  resume_retain: 5m
  responses_ttl: 30m
  responses_budget: 1000
  cors_origins: [https://app.example]
  database_url: postgres://db.internal/runnel
  redis_url: redis://cache.internal:6379/2
  redis_prefix: "prod:"
  rate_limit_fail: closed
gateway:
  default_provider: mock
  buffer_size: 16
  timeouts: {first_token: 10s, idle: 5s, total: 2m}
  default_model: mock/story
  max_tokens: 100
aliases:
  fast: [mock/fast, openai/gpt-4o-mini]
  gpt: openai/gpt-4o
prices:
  openai/gpt-4o-mini: {input: 0.15, output: 0.6}
providers:
  openai: {type: openai, api_key_env: OPENAI_KEY_FILE}
`,
			env: env(),
			want: func(c *config.Config) {
				c.Server = config.Server{Addr: "0.0.0.0:9000", DataDir: "/var/lib/runnel", ModelsDir: "/models",
					BodyLimit: 2048, KeepAlive: 5 * time.Second, ShutdownGrace: time.Minute, CORSOrigins: []string{"https://app.example"},
					ResumeGrace: 30 * time.Second, ResumeRetain: 5 * time.Minute, ResponsesTTL: 30 * time.Minute, ResponsesBudget: 1000,
					DatabaseURL: "postgres://db.internal/runnel", RedisURL: "redis://cache.internal:6379/2", RedisPrefix: "prod:", RateLimitFail: "closed"}
				c.Gateway = config.Gateway{DefaultProvider: "mock", BufferSize: 16, DefaultModel: "mock/story", MaxTokens: 100,
					Timeouts: config.Timeouts{FirstToken: 10 * time.Second, Idle: 5 * time.Second, Total: 2 * time.Minute}}
				c.Aliases = map[string]config.Targets{"fast": {"mock/fast", "openai/gpt-4o-mini"}, "gpt": {"openai/gpt-4o"}}
				c.Prices = gateway.Prices{"openai/gpt-4o-mini": {InputPerMillion: 0.15, OutputPerMillion: 0.6}}
			},
		},
		{
			name: "RUNNEL_* override the file",
			yaml: "server: {addr: 0.0.0.0:9000, body_limit: 10, database_url: postgres://file, redis_url: redis://file, rate_limit_fail: closed}\ngateway: {buffer_size: 8}\n",
			env: env("RUNNEL_ADDR", "127.0.0.1:7000", "RUNNEL_BODY_LIMIT", "4096", "RUNNEL_BUFFER_SIZE", "32",
				"RUNNEL_KEEP_ALIVE", "3s", "RUNNEL_MODELS", "/m", "RUNNEL_DATA_DIR", "/d", "RUNNEL_SHUTDOWN_GRACE", "2s",
				"RUNNEL_RESUME_GRACE", "4s", "RUNNEL_RESUME_RETAIN", "1m", "RUNNEL_RESPONSES_TTL", "10m", "RUNNEL_RESPONSES_BUDGET", "2048",
				"RUNNEL_FIRST_TOKEN_TIMEOUT", "1s", "RUNNEL_IDLE_TIMEOUT", "2s", "RUNNEL_TOTAL_TIMEOUT", "3s",
				"RUNNEL_CORS_ORIGINS", "https://a.example, https://b.example", "RUNNEL_DEFAULT_PROVIDER", "mock",
				"RUNNEL_DEFAULT_MODEL", "mock/x", "RUNNEL_MAX_TOKENS", "512",
				"DATABASE_URL", "postgres://env", "REDIS_URL", "redis://env", "RUNNEL_REDIS_PREFIX", "env:", "RUNNEL_RATE_LIMIT_FAIL", "open"),
			want: func(c *config.Config) {
				c.Server = config.Server{Addr: "127.0.0.1:7000", DataDir: "/d", ModelsDir: "/m", BodyLimit: 4096,
					KeepAlive: 3 * time.Second, ShutdownGrace: 2 * time.Second, CORSOrigins: []string{"https://a.example", "https://b.example"},
					ResumeGrace: 4 * time.Second, ResumeRetain: time.Minute, ResponsesTTL: 10 * time.Minute, ResponsesBudget: 2048,
					DatabaseURL: "postgres://env", RedisURL: "redis://env", RedisPrefix: "env:", RateLimitFail: "open"}
				c.Gateway = config.Gateway{DefaultProvider: "mock", BufferSize: 32, DefaultModel: "mock/x", MaxTokens: 512,
					Timeouts: config.Timeouts{FirstToken: time.Second, Idle: 2 * time.Second, Total: 3 * time.Second}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			want := config.Default()
			want.ApplyEnv(env())
			tt.want(want)
			c.Providers, want.Providers = nil, nil
			if !reflect.DeepEqual(c, want) {
				t.Errorf("config:\n got %+v\nwant %+v", c, want)
			}
		})
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        func(string) string
		want       string
	}{
		{"unknown top-level key", "servr: {}\n", env(), `line 1: unknown key "servr" at the top level`},
		{"duplicate key", "server: {addr: a}\ngateway: {}\nserver: {addr: b}\n", env(), `line 3: key "server" is defined twice (first at line 1)`},
		{"duplicate nested key", "providers:\n  x: {type: mock, type: openai}\n", env(), `line 2: key "type" is defined twice (first at line 2)`},
		{"huge file", strings.Repeat("#", 1<<20+1), env(), `a config file is at most 1048576`},
		{"unknown server key", "server:\n  adr: x\n", env(), `line 2: unknown key "adr" in server`},
		{"unknown provider key", "providers:\n  x:\n    type: openai\n    baseurl: http://h\n", env(), `line 4: unknown key "baseurl" in a provider`},
		{"unknown timeout key", "gateway:\n  timeouts: {ttft: 1s}\n", env(), `unknown key "ttft" in gateway.timeouts`},
		{"unknown price key", "prices:\n  m: {in: 1}\n", env(), `unknown key "in" in a price`},
		{"bad duration", "server: {keep_alive: soon}\n", env(), `line 1: cannot unmarshal !!str`},
		{"wrong type", "server: {body_limit: [1]}\n", env(), `line 1: cannot unmarshal !!seq`},
		{"unknown provider type", "providers: {x: {type: opnai, base_url: http://h}}\n", env(), `providers.x.type: unknown type "opnai"`},
		{"missing provider type", "providers: {x: {base_url: http://h}}\n", env(), `providers.x.type is missing`},
		{"missing base URL", "providers: {x: {type: ollama}}\n", env(), `providers.x.base_url is missing`},
		{"bad base URL", "providers: {x: {type: openai, base_url: 'ftp://h'}}\n", env(), `providers.x.base_url: "ftp://h" is not an http(s) URL`},
		{"key twice", "providers: {x: {type: openai, base_url: http://h, api_key: k, api_key_env: K}}\n", env(), `providers.x: set api_key or api_key_env, not both`},
		{"mock knobs on openai", "providers: {x: {type: openai, base_url: http://h, mock: {tokens: '1'}}}\n", env(), `providers.x.mock: only a mock provider`},
		{"slash in provider name", "providers: {'a/b': {type: mock}}\n", env(), `"a/b" is not a valid provider name`},
		{"alias to unknown provider", "aliases: {fast: [nope/m]}\n", env(), `aliases.fast[0]: no provider named "nope"`},
		{"alias without model", "aliases: {fast: mock}\n", env(), `aliases.fast[0]: "mock" is not provider/model`},
		{"openai alias without openai configured", "aliases: {gpt: openai/gpt-4o}\n", env(), `aliases.gpt[0]: no provider named "openai"`},
		{"unknown default provider", "gateway: {default_provider: vllm}\n", env(), `gateway.default_provider: no provider named "vllm"`},
		{"negative price", "prices: {m: {input: -1}}\n", env(), `prices.m: a price is negative`},
		{"bad env duration", "", env("RUNNEL_KEEP_ALIVE", "5"), `RUNNEL_KEEP_ALIVE="5": want a duration`},
		{"bad env body limit", "", env("RUNNEL_BODY_LIMIT", "1MB"), `RUNNEL_BODY_LIMIT="1MB"`},
		{"bad rate limit fail mode", "server: {rate_limit_fail: maybe}\n", env(), `server.rate_limit_fail (RUNNEL_RATE_LIMIT_FAIL): "maybe", want open or closed`},
		{"bad env rate limit fail mode", "", env("RUNNEL_RATE_LIMIT_FAIL", "shut"), `"shut", want open or closed`},
		{"bad env buffer", "", env("RUNNEL_BUFFER_SIZE", "-1"), `RUNNEL_BUFFER_SIZE="-1"`},
		{"threads on a mock", "providers: {m: {type: mock, threads: 2}}\n", env(), `providers.m.threads: only an engine provider`},
		{"negative threads", "providers: {e: {type: engine, threads: -1}}\n", env(), `providers.e.threads`},
		{"engines with different threads", "providers: {e1: {type: engine, threads: 1}, e2: {type: engine, threads: 2}}\n", env(), `differs from another engine's 1`},
		{"bad env threads", "", env("RUNNEL_ENGINE_THREADS", "0"), `RUNNEL_ENGINE_THREADS="0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runnel.yaml")
	if err := os.WriteFile(path, []byte("server:\n  port: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if err == nil || err.Error() != "config "+path+`: line 2: unknown key "port" in server` {
		t.Fatalf("Load error = %v", err)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := load(t, "# nothing here\n", env())
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:8080" || c.Gateway.BufferSize != 64 {
		t.Fatalf("empty file changed defaults: %+v", c)
	}
}

func TestAPIKeyFromEnv(t *testing.T) {
	p := config.Provider{Type: "openai", APIKeyEnv: "VLLM_KEY"}
	if got := p.APIKeyFrom(env("VLLM_KEY", "secret")); got != "secret" {
		t.Fatalf("APIKeyFrom = %q", got)
	}
}

func TestDefaultProvider(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        func(string) string
		want       string
	}{
		{"nothing set: the engine", "", env(), "engine"},
		{"a models dir: the engine", "", env("RUNNEL_MODELS", "/models"), "engine"},
		{"configured", "gateway: {default_provider: ollama}\n", env("RUNNEL_MODELS", "/models"), "ollama"},
		{"from the environment", "", env("RUNNEL_DEFAULT_PROVIDER", "mock", "RUNNEL_MODELS", "/m"), "mock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.DefaultProvider(); got != tt.want {
				t.Fatalf("DefaultProvider() = %q, want %q", got, tt.want)
			}
		})
	}
}

// The configuration example in README.md must load.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err) // the README is part of the repository
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no ```yaml block")
	}
	example, _, _ := strings.Cut(rest, "```")
	getenv := env("VLLM_API_KEY", "k", "OPENAI_API_KEY", "sk")
	c, err := load(t, example, getenv)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	ps, err := c.BuildProviders(getenv, nil)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if ps["vllm"] == nil || ps["slow"] == nil || len(c.Aliases["fast"]) != 2 {
		t.Fatalf("README example loaded as %+v", c)
	}
}

// The engine's thread cap comes from its provider's threads, or from
// RUNNEL_ENGINE_THREADS for every engine.
func TestEngineThreads(t *testing.T) {
	c, err := load(t, "providers: {local: {type: engine, threads: 1}}\n", env())
	if err != nil || c.Providers["local"].Threads != 1 || c.Providers["engine"].Threads != 0 {
		t.Fatalf("from the file: %+v %v", c.Providers, err)
	}
	c, err = load(t, "", env("RUNNEL_ENGINE_THREADS", "1"))
	if err != nil || c.Providers["engine"].Threads != 1 {
		t.Fatalf("from the environment: %+v %v", c.Providers, err)
	}
}

// read_ahead puts a provider behind the buffer; it still streams the same
// events and still answers for what the provider can do.
func TestReadAhead(t *testing.T) {
	c, err := load(t, "gateway: {buffer_size: 2}\nproviders:\n  m: {type: mock, read_ahead: true}\n  up: {type: openai, base_url: 'http://127.0.0.1:1/v1', read_ahead: true, think: true}\n", env())
	if err != nil || !c.Providers["m"].ReadAhead || c.Providers["engine"].ReadAhead {
		t.Fatalf("%+v %v", c.Providers, err)
	}
	ps, err := c.BuildProviders(env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ps["m"].Stream(context.Background(), &stream.Request{Model: "x?tokens=5&text=a"})
	if err != nil {
		t.Fatal(err)
	}
	if r := stream.Collect(s); r.Text != "a a a a a" || r.Finish != stream.FinishStop || r.Usage == nil || r.Usage.CompletionTokens != 5 {
		t.Fatalf("through the buffer: %+v", r)
	}
	f, ok := ps["up"].(gateway.FormatChecker)
	l, ok2 := ps["up"].(gateway.LogprobsChecker)
	if !ok || !ok2 || !f.CanFormat("gpt", stream.FormatJSONSchema) || !l.CanLogprobs("gpt") {
		t.Fatal("a wrapped openai provider no longer says it can honour response_format and logprobs")
	}
}
