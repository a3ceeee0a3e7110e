package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Well-known upstream endpoints, used when a key is set without a base URL.
const (
	OpenAIBaseURL    = "https://api.openai.com/v1"
	AnthropicBaseURL = "https://api.anthropic.com"
	GeminiBaseURL    = "https://generativelanguage.googleapis.com/v1beta"
	OllamaBaseURL    = "http://127.0.0.1:11434"
)

// ApplyEnv adds the providers the environment asks for and overrides
// settings from it. getenv is os.Getenv outside tests.
//
//   - mock/… always routes to the mock provider, engine/… to the engine.
//   - openai/… routes to OPENAI_BASE_URL when set (no key needed, for
//     vLLM, llama.cpp, LiteLLM…), else to api.openai.com when
//     OPENAI_API_KEY is set.
//   - ollama/… routes to OLLAMA_HOST (default http://127.0.0.1:11434).
//   - anthropic/… and gemini/… route when their *_API_KEY or *_BASE_URL is set.
//
// A provider of the same name in the file keeps its settings; the
// variables override its base URL and key.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	if c.Providers == nil {
		c.Providers = make(map[string]Provider)
	}
	c.ensure("mock", Provider{Type: TypeMock})
	c.ensure("engine", Provider{Type: TypeEngine})
	c.envProvider(getenv, TypeOpenAI, "OPENAI_BASE_URL", "OPENAI_API_KEY", OpenAIBaseURL, false)
	c.envProvider(getenv, TypeOllama, "OLLAMA_HOST", "", OllamaBaseURL, true)
	c.envProvider(getenv, TypeAnthropic, "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", AnthropicBaseURL, false)
	c.envProvider(getenv, TypeGemini, "GEMINI_BASE_URL", "GEMINI_API_KEY", GeminiBaseURL, false)
	if p, ok := c.Providers[TypeOllama]; ok && p.Type == TypeOllama {
		p.BaseURL = ollamaURL(p.BaseURL)
		c.Providers[TypeOllama] = p
	}

	str := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	str("RUNNEL_ADDR", &c.Server.Addr)
	str("RUNNEL_DATA_DIR", &c.Server.DataDir)
	str("RUNNEL_MODELS", &c.Server.ModelsDir)
	str("RUNNEL_DEFAULT_PROVIDER", &c.Gateway.DefaultProvider)
	str("RUNNEL_DEFAULT_MODEL", &c.Gateway.DefaultModel)
	str("RUNNEL_METRICS_TOKEN", &c.Server.MetricsToken)
	str("DATABASE_URL", &c.Server.DatabaseURL)
	str("REDIS_URL", &c.Server.RedisURL)
	str("RUNNEL_REDIS_PREFIX", &c.Server.RedisPrefix)
	str("RUNNEL_RATE_LIMIT_FAIL", &c.Server.RateLimitFail)
	if v := getenv("RUNNEL_OPENAI_OMIT_EVENT_IDS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: RUNNEL_OPENAI_OMIT_EVENT_IDS=%q: want true or false", v)
		}
		c.Server.OpenAIOmitEventIDs = b
	}
	if v := getenv("RUNNEL_CORS_ORIGINS"); v != "" {
		c.Server.CORSOrigins = splitList(v)
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{
		{"RUNNEL_KEEP_ALIVE", &c.Server.KeepAlive},
		{"RUNNEL_SHUTDOWN_GRACE", &c.Server.ShutdownGrace},
		{"RUNNEL_RESUME_GRACE", &c.Server.ResumeGrace},
		{"RUNNEL_RESUME_RETAIN", &c.Server.ResumeRetain},
		{"RUNNEL_RESPONSES_TTL", &c.Server.ResponsesTTL},
		{"RUNNEL_PRE_STOP", &c.Server.PreStop},
		{"RUNNEL_FIRST_TOKEN_TIMEOUT", &c.Gateway.Timeouts.FirstToken},
		{"RUNNEL_IDLE_TIMEOUT", &c.Gateway.Timeouts.Idle},
		{"RUNNEL_TOTAL_TIMEOUT", &c.Gateway.Timeouts.Total},
	} {
		if v := getenv(d.key); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("config: %s=%q: want a duration such as 15s or 2m", d.key, v)
			}
			*d.dst = t
		}
	}
	str("RUNNEL_STREAM_TOKEN_SECRET", &c.Server.StreamTokenSecret)
	if v := getenv("RUNNEL_RESUME_BUDGET"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("config: RUNNEL_RESUME_BUDGET=%q: want a positive number of bytes", v)
		}
		c.Server.ResumeBudget = n
	}
	if v := getenv("RUNNEL_RESPONSES_BUDGET"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("config: RUNNEL_RESPONSES_BUDGET=%q: want a positive number of bytes", v)
		}
		c.Server.ResponsesBudget = n
	}
	if v := getenv("RUNNEL_BODY_LIMIT"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("config: RUNNEL_BODY_LIMIT=%q: want a positive number of bytes", v)
		}
		c.Server.BodyLimit = n
	}
	if v := getenv("RUNNEL_ENGINE_THREADS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("config: RUNNEL_ENGINE_THREADS=%q: want a number of cores ≥ 1", v)
		}
		for name, p := range c.Providers {
			if p.Type == TypeEngine {
				p.Threads = n
				c.Providers[name] = p
			}
		}
	}
	if v := getenv("RUNNEL_BUFFER_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("config: RUNNEL_BUFFER_SIZE=%q: want a positive number of events", v)
		}
		c.Gateway.BufferSize = n
	}
	if v := getenv("RUNNEL_MAX_TOKENS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("config: RUNNEL_MAX_TOKENS=%q: want a positive number of tokens", v)
		}
		c.Gateway.MaxTokens = n
	}
	return nil
}

// ensure adds provider name with p's settings unless the file defined it.
func (c *Config) ensure(name string, p Provider) {
	if _, ok := c.Providers[name]; !ok {
		c.Providers[name] = p
	}
}

// envProvider configures the provider named typ from its two variables.
// It exists when the file defines it, when either variable is set, or
// always (Ollama, whose default is a local server).
func (c *Config) envProvider(getenv func(string) string, typ, urlVar, keyVar, defURL string, always bool) {
	base := getenv(urlVar)
	key := ""
	if keyVar != "" {
		key = getenv(keyVar)
	}
	p, defined := c.Providers[typ]
	if !defined && !always && base == "" && key == "" {
		return
	}
	if !defined {
		p = Provider{Type: typ}
	}
	if base != "" {
		p.BaseURL = base
	}
	if key != "" {
		p.APIKey, p.APIKeyEnv = key, ""
	}
	if p.BaseURL == "" && p.Type == typ {
		p.BaseURL = defURL
	}
	c.Providers[typ] = p
}

// ollamaURL accepts OLLAMA_HOST's forms: "host", "host:port", a URL.
func ollamaURL(v string) string {
	if v == "" {
		return OllamaBaseURL
	}
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return v // Validate reports it
	}
	if u.Port() == "" {
		u.Host += ":11434"
	}
	if h := u.Hostname(); h == "0.0.0.0" || h == "::" {
		u.Host = strings.Replace(u.Host, h, "127.0.0.1", 1)
	}
	return strings.TrimRight(u.String(), "/")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate checks the configuration as a whole; errors name the key.
func (c *Config) Validate() error {
	switch c.Server.RateLimitFail {
	case "", "open", "closed":
	default:
		return fmt.Errorf("server.rate_limit_fail (RUNNEL_RATE_LIMIT_FAIL): %q, want open or closed", c.Server.RateLimitFail)
	}
	for _, name := range sortedKeys(c.Providers) {
		p := c.Providers[name]
		where := "providers." + name
		if name == "" || strings.ContainsAny(name, "/? ") {
			return fmt.Errorf("providers: %q is not a valid provider name (no '/', '?' or spaces)", name)
		}
		if !slices.Contains(types, p.Type) {
			if p.Type == "" {
				return fmt.Errorf("%s.type is missing (want one of %s)", where, strings.Join(types, ", "))
			}
			return fmt.Errorf("%s.type: unknown type %q (want one of %s)", where, p.Type, strings.Join(types, ", "))
		}
		switch p.Type {
		case TypeOpenAI, TypeOllama, TypeAnthropic, TypeGemini:
			if p.BaseURL == "" {
				return fmt.Errorf("%s.base_url is missing", where)
			}
			u, err := url.Parse(p.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%s.base_url: %q is not an http(s) URL", where, p.BaseURL)
			}
		default:
			if p.BaseURL != "" {
				return fmt.Errorf("%s.base_url: a %s provider has no base URL", where, p.Type)
			}
		}
		if p.APIKey != "" && p.APIKeyEnv != "" {
			return fmt.Errorf("%s: set api_key or api_key_env, not both", where)
		}
		if len(p.Mock) > 0 && p.Type != TypeMock {
			return fmt.Errorf("%s.mock: only a mock provider takes mock knobs", where)
		}
		if p.Threads != 0 && p.Type != TypeEngine || p.Threads < 0 {
			return fmt.Errorf("%s.threads: only an engine provider takes threads, a number of cores ≥ 1", where)
		}
	}
	// The engine's kernel pool is process-wide: one thread count.
	threads := 0
	for _, name := range sortedKeys(c.Providers) {
		if t := c.Providers[name].Threads; t > 0 {
			if threads > 0 && t != threads {
				return fmt.Errorf("providers.%s.threads: %d differs from another engine's %d; the engines share one pool of threads", name, t, threads)
			}
			threads = t
		}
	}
	if d := c.Gateway.DefaultProvider; d != "" {
		if _, ok := c.Providers[d]; !ok {
			return fmt.Errorf("gateway.default_provider: no provider named %q", d)
		}
	}
	if c.Gateway.BufferSize < 0 {
		return fmt.Errorf("gateway.buffer_size: %d is negative", c.Gateway.BufferSize)
	}
	if c.Gateway.MaxTokens < 0 {
		return fmt.Errorf("gateway.max_tokens: %d is negative", c.Gateway.MaxTokens)
	}
	if c.Server.BodyLimit < 0 {
		return fmt.Errorf("server.body_limit: %d is negative", c.Server.BodyLimit)
	}
	for _, name := range sortedKeys(c.Aliases) {
		targets := c.Aliases[name]
		if len(targets) == 0 {
			return fmt.Errorf("aliases.%s: no target", name)
		}
		for i, t := range targets {
			prov, model, ok := strings.Cut(t, "/")
			if !ok || model == "" {
				return fmt.Errorf("aliases.%s[%d]: %q is not provider/model", name, i, t)
			}
			if _, known := c.Providers[prov]; !known {
				return fmt.Errorf("aliases.%s[%d]: no provider named %q", name, i, prov)
			}
		}
	}
	for _, model := range sortedKeys(c.Prices) {
		if p := c.Prices[model]; p.InputPerMillion < 0 || p.OutputPerMillion < 0 {
			return fmt.Errorf("prices.%s: a price is negative", model)
		}
	}
	return nil
}

// APIKeyFrom returns p's key, reading APIKeyEnv through getenv.
func (p Provider) APIKeyFrom(getenv func(string) string) string {
	if p.APIKeyEnv != "" {
		return getenv(p.APIKeyEnv)
	}
	return p.APIKey
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// DefaultProvider is the provider that serves model names no other rule
// routes (bare names such as "stories260K"): the configured one, else the
// built-in engine, which answers a model it does not have with a clear
// not-found error naming `runnel pull`.
func (c *Config) DefaultProvider() string {
	if c.Gateway.DefaultProvider != "" {
		return c.Gateway.DefaultProvider
	}
	return TypeEngine
}
