// Package config turns Runnel's YAML file and environment into providers, a
// router and gateway options. Precedence, lowest first: built-in defaults,
// the file, environment variables, then command-line flags (applied by
// cmd/runnel).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/runnel/runnel/gateway"
)

// Config is the whole configuration.
type Config struct {
	Server    Server              `yaml:"server"`
	Gateway   Gateway             `yaml:"gateway"`
	Providers map[string]Provider `yaml:"providers"`
	// Aliases map a model name clients use to one or more "provider/model"
	// targets: the first serves the call, the others are its fallbacks in
	// order, tried when a target fails before the first token.
	Aliases map[string]Targets `yaml:"aliases"`
	// Prices per model ("provider/model" or alias), per million tokens.
	Prices gateway.Prices `yaml:"prices"`
}

// Server holds the HTTP server's settings.
type Server struct {
	Addr          string        `yaml:"addr"`
	DataDir       string        `yaml:"data_dir"`
	ModelsDir     string        `yaml:"models_dir"`
	BodyLimit     int64         `yaml:"body_limit"`     // bytes
	KeepAlive     time.Duration `yaml:"keep_alive"`     // SSE keep-alive after this much silence
	ShutdownGrace time.Duration `yaml:"shutdown_grace"` // in-flight streams' time to finish on shutdown
	CORSOrigins   []string      `yaml:"cors_origins"`
	// OpenAIOmitEventIDs sends the OpenAI dialect's streams without id:
	// lines, as OpenAI does (for go-openai; see openai.Options).
	OpenAIOmitEventIDs bool `yaml:"openai_omit_event_ids"`
	// ResumeGrace is how long a resumable stream's generation runs on
	// after its client went, waiting for it to reconnect; ResumeRetain how
	// long a finished one can still be resumed.
	ResumeGrace  time.Duration `yaml:"resume_grace"`
	ResumeRetain time.Duration `yaml:"resume_retain"`
	// MetricsToken, when set, is the bearer token /metrics requires (for
	// a Prometheus scraper), instead of an API key when auth is on.
	MetricsToken string `yaml:"metrics_token"`
	// DatabaseURL (DATABASE_URL) puts the account store in PostgreSQL,
	// shared by every replica; empty, it is SQLite in DataDir.
	DatabaseURL string `yaml:"database_url"`
	// RedisURL (REDIS_URL) shares rate limits and resumable streams' logs
	// between replicas, under keys starting with RedisPrefix
	// (RUNNEL_REDIS_PREFIX, default "runnel:"). Without it, both are the
	// replica's own.
	RedisURL    string `yaml:"redis_url"`
	RedisPrefix string `yaml:"redis_prefix"`
	// RateLimitFail (RUNNEL_RATE_LIMIT_FAIL) is what requests get while
	// Redis is unreachable: "open" (admitted without shared limits, the
	// default) or "closed" (503).
	RateLimitFail string `yaml:"rate_limit_fail"`
	// ResumeBudget caps the bytes of resumable streams' logs held in
	// memory (finished ones go first; see resume.Options.Budget).
	ResumeBudget int64 `yaml:"resume_budget"`
	// ResponsesTTL is how long a stored response of /v1/responses
	// ("store": true) is kept; ResponsesBudget caps the bytes of those
	// kept in memory (without Redis), the oldest going first.
	ResponsesTTL    time.Duration `yaml:"responses_ttl"`
	ResponsesBudget int64         `yaml:"responses_budget"`
	// StreamTokenSecret signs stream tokens (?token=). Replicas behind
	// one load balancer need the same one; empty means a random secret
	// per process.
	StreamTokenSecret string `yaml:"stream_token_secret"`
	// PreStop is how long, on SIGTERM, /readyz answers 503 while serving
	// goes on, before the listener closes: the load balancer's time to
	// see it.
	PreStop time.Duration `yaml:"pre_stop"`
}

// Gateway holds the gateway's settings.
type Gateway struct {
	// DefaultProvider serves model names without a "provider/" prefix
	// (default: the embedded default, see DefaultProvider).
	DefaultProvider string `yaml:"default_provider"`
	// BufferSize is the per-stream buffer, in events, of producers that
	// run ahead of their reader: the engine, and providers with
	// read_ahead (default 64). Other streams are read as the client
	// reads them, with no buffer.
	BufferSize int      `yaml:"buffer_size"`
	Timeouts   Timeouts `yaml:"timeouts"`
	// DefaultModel serves requests that name no model (`serve --model`);
	// empty: the engine's default model (stories260K).
	DefaultModel string `yaml:"default_model"`
	// MaxTokens is the max_tokens of requests that set none (default 256).
	MaxTokens int `yaml:"max_tokens"`
}

// Timeouts bound every stream unless the request sets its own. Zero means
// no limit.
type Timeouts struct {
	FirstToken time.Duration `yaml:"first_token"`
	Idle       time.Duration `yaml:"idle"`
	Total      time.Duration `yaml:"total"`
}

// Provider types.
const (
	TypeOpenAI    = "openai"
	TypeOllama    = "ollama"
	TypeAnthropic = "anthropic"
	TypeGemini    = "gemini"
	TypeMock      = "mock"
	TypeEngine    = "engine"
)

var types = []string{TypeOpenAI, TypeOllama, TypeAnthropic, TypeGemini, TypeMock, TypeEngine}

// Provider is one named upstream (or the mock, or the engine). Its name is
// the prefix clients route with: "NAME/model".
type Provider struct {
	Type    string `yaml:"type"`
	BaseURL string `yaml:"base_url"`
	// APIKey, or the name of the environment variable holding it. Prefer
	// APIKeyEnv, which keeps secrets out of the file.
	APIKey    string            `yaml:"api_key"`
	APIKeyEnv string            `yaml:"api_key_env"`
	Headers   map[string]string `yaml:"headers"`
	// Models to list in /v1/models for this provider (routing does not
	// need them: any "NAME/model" goes to the provider).
	Models []string `yaml:"models"`
	// Mock knobs (type mock): the same as in a mock model name's query
	// string, e.g. {tokens: "20", ttft: "5ms", itl: "1ms"}; a model's own
	// query string overrides them.
	Mock map[string]string `yaml:"mock"`
	// Think splits inline <think>…</think> into the thinking channel:
	// `think: true` for all of this provider's models, or a list of the
	// models (as the provider names them) that think inline, e.g.
	// `think: [deepseek-r1, qwq]`.
	Think Think `yaml:"think"`
	// Stream: false says this provider's models cannot stream (an image
	// model, a batch-only deployment). Streamed endpoints then refuse them
	// with a 400 naming the non-streaming form; aliases that may route to
	// them too. Unset means they stream.
	Stream *bool `yaml:"stream"`
	// ReadAhead puts this provider's streams behind a buffer of
	// gateway.buffer_size events, filled by a goroutine of their own, so
	// the upstream is read ahead of a slow client. Off by default: a
	// stream is read on the goroutine that serves it, as a proxy does.
	ReadAhead bool `yaml:"read_ahead"`
	// Threads (type engine) caps the cores the engine computes on, to
	// leave some to the gateway; 0 uses all. Process-wide.
	Threads int `yaml:"threads"`
}

// Think says which of a provider's models emit inline <think> tags: All,
// or those in Models.
type Think struct {
	All    bool
	Models []string
}

// UnmarshalYAML accepts a boolean or a sequence of model names.
func (t *Think) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var all bool
		if err := n.Decode(&all); err != nil {
			return fmt.Errorf("line %d: think must be true, false or a list of model names", n.Line)
		}
		*t = Think{All: all}
		return nil
	}
	var models []string
	if err := n.Decode(&models); err != nil {
		return fmt.Errorf("line %d: think must be true, false or a list of model names", n.Line)
	}
	*t = Think{Models: models}
	return nil
}

// Targets is one target or a fallback list. YAML accepts either
// `fast: openai/gpt-4o-mini` or `fast: [vllm/llama3, openai/gpt-4o-mini]`.
type Targets []string

// UnmarshalYAML accepts a scalar or a sequence.
func (t *Targets) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*t = Targets{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*t = list
	return nil
}

// Default is the configuration with no file and no environment.
func Default() *Config {
	return &Config{
		Server: Server{
			Addr:          "127.0.0.1:8080",
			DataDir:       "./data",
			KeepAlive:     15 * time.Second,
			ShutdownGrace: 10 * time.Second,
			ResumeGrace:   10 * time.Second,
			ResumeRetain:  2 * time.Minute,
			ResponsesTTL:  time.Hour,
			RedisPrefix:   "runnel:",
		},
		Gateway: Gateway{BufferSize: 64, MaxTokens: 256},
	}
}

// Load reads the file at path (none if path is ""), over the defaults, and
// applies the environment (os.Getenv).
func Load(path string) (*Config, error) {
	c := Default()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		if err := c.Decode(f); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := c.ApplyEnv(os.Getenv); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		if path != "" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Decode reads YAML into c, over what c holds. Unknown keys are errors that
// name the key and its line.
func (c *Config) Decode(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if len(data) > maxFileSize {
		return fmt.Errorf("the file is %d bytes; a config file is at most %d", len(data), maxFileSize)
	}
	// Reject duplicate keys first, in one pass: the YAML library's own
	// check is quadratic and takes minutes on a file of repeated keys.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return err
	}
	if err := duplicateKey(&root, map[*yaml.Node]bool{}); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return yamlError(err)
	}
	return nil
}

// maxFileSize bounds a config file; real ones are a few KiB.
const maxFileSize = 1 << 20

// duplicateKey reports the first mapping key defined twice under n.
func duplicateKey(n *yaml.Node, seen map[*yaml.Node]bool) error {
	if n == nil || seen[n] {
		return nil
	}
	seen[n] = true
	if n.Kind == yaml.MappingNode {
		first := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue
			}
			if line, dup := first[k.Value]; dup {
				return fmt.Errorf("line %d: key %q is defined twice (first at line %d)", k.Line, k.Value, line)
			}
			first[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := duplicateKey(c, seen); err != nil {
			return err
		}
	}
	return duplicateKey(n.Alias, seen)
}

var (
	unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type (?:config|gateway)\.(\w+)`)
	sections     = map[string]string{
		"Config":   "at the top level",
		"Server":   "in server",
		"Gateway":  "in gateway",
		"Timeouts": "in gateway.timeouts",
		"Provider": "in a provider",
		"Price":    "in a price",
	}
)

// yamlError rewrites the YAML library's messages into the file's terms.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if s := unknownField.FindStringSubmatch(m); s != nil {
			where := sections[s[3]]
			if where == "" {
				where = "in " + s[3]
			}
			m = fmt.Sprintf("line %s: unknown key %q %s", s[1], s[2], where)
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}
