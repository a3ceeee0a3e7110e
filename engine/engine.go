// Package engine is Runnel's built-in inference engine: a stream.Provider
// that runs llama-architecture models (llama2.c checkpoints and GGUF files
// from a models directory) in pure Go.
//
// Each model is loaded once, on first use, and shared by all requests. A
// scheduler goroutine per model runs continuous batching: sequences join
// and leave between decode steps, and each step advances every active
// sequence by one token with one matrix product per weight matrix.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"

	"github.com/runnel/runnel/engine/kernels"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/engine/sampler"
	"github.com/runnel/runnel/engine/template"
	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// Options configure an Engine.
type Options struct {
	// ModelsDir holds the model files; default models.DefaultDir()
	// ($RUNNEL_MODELS, else the user cache directory, where `runnel pull`
	// downloads to).
	ModelsDir string
	// DefaultModel is served when a request names none; default
	// models.Default (stories260K).
	DefaultModel string
	// Tokenizer is a llama2.c tokenizer file to use for llama2.c
	// checkpoints instead of the one found beside the model.
	Tokenizer string
	// MaxParallel is the most sequences a model decodes together
	// (default 8). Further requests wait in a queue.
	MaxParallel int
	// QueueSize is the most requests waiting per model (default 64);
	// past it Stream fails with stream.CodeOverloaded.
	QueueSize int
	// BatchTokens is the most tokens one step processes, prompt tokens
	// included (default 64): it bounds how much a long prompt's prefill
	// delays the other sequences' next token.
	BatchTokens int
	// MaxContext caps a model's context length (default 4096), which
	// bounds each sequence's KV cache: Layers × MaxContext × KVDim × 8
	// bytes.
	MaxContext int
	// Threads caps the cores the engine's products use (default: all,
	// GOMAXPROCS), to leave some to the rest of the process. It is
	// process-wide: every engine must ask for the same.
	Threads int
	// BufferSize is each stream's event buffer (default 64).
	BufferSize int
	Logger     *slog.Logger
}

// Engine is the built-in provider. Its zero value is not usable; call New.
type Engine struct {
	o Options

	mu      sync.Mutex
	runners map[string]*runner // by model path
	loading map[string]*loadCall
	closed  bool
}

type loadCall struct {
	done chan struct{}
	r    *runner
	err  error
}

var (
	_ stream.Provider     = (*Engine)(nil)
	_ gateway.ModelLister = (*Engine)(nil)
	_ gateway.Continuer   = (*Engine)(nil)
)

// New returns an Engine. Models are loaded on first use.
func New(o Options) (*Engine, error) {
	if o.Threads < 0 {
		return nil, fmt.Errorf("engine: threads %d must not be negative", o.Threads)
	}
	if o.Threads > 0 && !kernels.SetThreads(o.Threads) {
		return nil, fmt.Errorf("engine: threads %d: the engine already runs with a different number of threads in this process", o.Threads)
	}
	if o.ModelsDir == "" {
		o.ModelsDir = models.DefaultDir()
	}
	if o.DefaultModel == "" {
		o.DefaultModel = models.Default
	}
	if o.MaxParallel <= 0 {
		o.MaxParallel = 8
	}
	if o.QueueSize < 0 {
		return nil, fmt.Errorf("engine: negative queue size %d", o.QueueSize)
	}
	if o.QueueSize == 0 {
		o.QueueSize = 64
	}
	if o.BatchTokens <= 0 {
		o.BatchTokens = 64
	}
	o.BatchTokens = max(o.BatchTokens, o.MaxParallel)
	if o.BufferSize <= 0 {
		o.BufferSize = 64
	}
	if o.MaxContext <= 0 {
		o.MaxContext = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{o: o, runners: map[string]*runner{}, loading: map[string]*loadCall{}}, nil
}

// Models lists the models directory, then the models of Ollama's store
// ($OLLAMA_MODELS, else ~/.ollama/models) that requests can name too (see
// models.Resolve). A name the directory has hides the store's.
func (e *Engine) Models(ctx context.Context) ([]gateway.ModelInfo, error) {
	list, err := models.List(e.o.ModelsDir)
	if err != nil {
		return nil, fmt.Errorf("engine: models dir: %w", err)
	}
	store, err := models.ListOllama(models.OllamaDir())
	if err != nil {
		// The store is Ollama's, not ours: an unreadable one hides only its
		// own models.
		e.o.Logger.Warn("engine: cannot list Ollama's store", "dir", models.OllamaDir(), "err", err)
	}
	out := make([]gateway.ModelInfo, 0, len(list)+len(store))
	seen := make(map[string]bool, len(list))
	for _, m := range append(list, store...) {
		if seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		out = append(out, gateway.ModelInfo{ID: m.Name, Provider: "engine", OwnedBy: "runnel", Created: m.Modified, ContextLength: m.ContextLength})
	}
	return out, nil
}

// Close stops every scheduler, ends the streams still running with an
// error, and unmaps the models.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	rs := e.runners
	e.runners = map[string]*runner{}
	e.mu.Unlock()
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.close())
	}
	return errors.Join(errs...)
}

// CanFormat implements gateway.FormatChecker: free text only. Honouring a
// JSON format would take a grammar-constrained sampler, which the engine
// does not have; Stream refuses such requests rather than ignore them.
func (e *Engine) CanFormat(model string, t stream.FormatType) bool { return t == stream.FormatText }

// CanContinue implements gateway.Continuer: every model continues a chat
// whose last message is the assistant's answer begun (see promptTokens).
func (e *Engine) CanContinue(model string) bool { return true }

// Stream starts a generation. Errors known before the first token (unknown
// model, bad parameters, prompt longer than the context, queue full) are
// returned as *stream.Error.
func (e *Engine) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	if req.ResponseFormat.IsJSON() {
		return nil, stream.FormatUnsupported("engine", req.ResponseFormat)
	}
	name := req.Model
	if models.Name(name) == "" {
		name = e.o.DefaultModel
	}
	r, err := e.runner(name)
	if err != nil {
		return nil, err
	}
	opts, err := samplerOptions(req.Sampling)
	if err != nil {
		return nil, err
	}
	if len(req.Tools) > 0 && req.ToolChoice != "" && req.ToolChoice != "auto" && req.ToolChoice != "none" {
		return nil, stream.InvalidParam("tool_choice", "the engine's models cannot call tools")
	}
	p, err := r.promptTokens(req)
	if err != nil {
		return nil, err
	}
	ids := p.ids
	if len(ids) == 0 {
		return nil, stream.InvalidParam("messages", "the prompt is empty and model %s's vocabulary adds no BOS token", r.name)
	}
	if len(ids) > r.m.SeqLen {
		return nil, stream.InvalidParam("messages", "the prompt is %d tokens; model %s has a context of %d", len(ids), r.name, r.m.SeqLen)
	}
	if req.Sampling.MaxTokens < 0 {
		return nil, stream.InvalidParam("max_tokens", "max_tokens must not be negative")
	}
	maxTokens := req.Sampling.MaxTokens
	if p.prefix > 0 && maxTokens > 0 {
		// max_tokens bounds the whole answer, the part begun included.
		if maxTokens -= p.prefix; maxTokens <= 0 {
			return answered(ctx, p), nil
		}
	}
	s, err := r.start(ctx, ids, opts, maxTokens, e.o.BufferSize)
	if err != nil {
		return nil, err
	}
	if p.prefix > 0 {
		s = &answerUsage{Stream: s, prefix: p.prefix}
	}
	return r.output(ctx, req, p, s)
}

// Preload loads the named model now (the default model for ""), so that
// its first request does not wait for the load; it implements
// gateway.Preloader.
func (e *Engine) Preload(ctx context.Context, model string) error {
	if models.Name(model) == "" {
		model = e.o.DefaultModel
	}
	_, err := e.runner(model)
	return err
}

// runner returns the scheduler of the named model, loading it on first
// use. Concurrent first requests share one load.
func (e *Engine) runner(name string) (*runner, error) {
	m, err := models.Resolve(e.o.ModelsDir, name)
	if errors.Is(err, models.ErrNotFound) {
		return nil, notFound(e.o.ModelsDir, name)
	}
	if err != nil {
		return nil, stream.Errorf(stream.CodeInternal, "model %s: %v", name, err)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, stream.Errorf(stream.CodeOverloaded, "the engine is shutting down")
	}
	if r, ok := e.runners[m.Path]; ok {
		e.mu.Unlock()
		return r, nil
	}
	lc, ok := e.loading[m.Path]
	if !ok {
		lc = &loadCall{done: make(chan struct{})}
		e.loading[m.Path] = lc
		e.mu.Unlock()
		lc.r, lc.err = e.load(m)
		e.mu.Lock()
		delete(e.loading, m.Path)
		if lc.err == nil {
			if e.closed {
				lc.r.close()
				lc.r, lc.err = nil, stream.Errorf(stream.CodeOverloaded, "the engine is shutting down")
			} else {
				e.runners[m.Path] = lc.r
			}
		}
		close(lc.done)
	}
	e.mu.Unlock()
	<-lc.done
	return lc.r, lc.err
}

func (e *Engine) load(m models.Model) (*runner, error) {
	mdl, vocab, tmpl, err := open(m, e.o.Tokenizer)
	if err != nil {
		e.o.Logger.Error("engine: cannot load model", "model", m.Name, "path", m.Path, "err", err)
		return nil, loadError(m, err)
	}
	mdl.LimitContext(e.o.MaxContext)
	e.o.Logger.Info("engine: model loaded", "model", m.Name, "format", mdl.Format, "params", mdl.Params, "context", mdl.SeqLen)
	if tmpl == nil {
		e.o.Logger.Info("engine: model has no chat template; chat messages are joined by newlines", "model", m.Name)
	}
	r := newRunner(m.Name, mdl, vocab, e.o)
	r.tmpl, r.specials = tmpl, template.Specials(vocab)
	return r, nil
}

// loadError tells the client why the model it named cannot be served.
// Memory and file-descriptor exhaustion may pass, so they are 503s; any
// other failure is the file's (corrupt, or an architecture, tokenizer or
// tensor type the engine does not run) and stays until the file changes:
// CodeUnsupported, a 422. The server's paths stay in the log.
func loadError(m models.Model, err error) *stream.Error {
	cause := strings.ReplaceAll(strings.ReplaceAll(err.Error(), m.Path+": ", ""), m.Path, m.Name)
	if errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return &stream.Error{Code: stream.CodeOverloaded, Message: fmt.Sprintf("model %s cannot be loaded now: %s", m.Name, cause), Err: err}
	}
	return &stream.Error{Code: stream.CodeUnsupported, Param: "model", Message: fmt.Sprintf("model %s cannot be served: %s", m.Name, cause), Err: err}
}

func notFound(dir, name string) *stream.Error {
	n := models.Name(name)
	msg := fmt.Sprintf("model %q is not in the models directory %s; download it there with `runnel pull --models-dir %s %s`", n, dir, dir, n)
	if list, _ := models.List(dir); len(list) > 0 {
		names := make([]string, len(list))
		for i, m := range list {
			names[i] = m.Name
		}
		msg += " (available: " + strings.Join(names, ", ") + ")"
	}
	return &stream.Error{Code: stream.CodeNotFound, Param: "model", Message: msg}
}

// Sampling defaults of the API surface.
const (
	defaultTemperature = 1.0
	defaultTopK        = 40
	defaultTopP        = 0.9
)

func samplerOptions(s stream.Sampling) (sampler.Options, error) {
	o := sampler.Options{Temperature: defaultTemperature, TopK: defaultTopK, TopP: defaultTopP}
	if s.Temperature != nil {
		if *s.Temperature < 0 || *s.Temperature > 100 {
			return o, stream.InvalidParam("temperature", "temperature must be between 0 and 100, got %g", *s.Temperature)
		}
		o.Temperature = *s.Temperature
	}
	if s.TopK != nil {
		if *s.TopK < 0 {
			return o, stream.InvalidParam("top_k", "top_k must not be negative, got %d", *s.TopK)
		}
		o.TopK = *s.TopK
	}
	if s.TopP != nil {
		if *s.TopP < 0 || *s.TopP > 1 {
			return o, stream.InvalidParam("top_p", "top_p must be between 0 and 1, got %g", *s.TopP)
		}
		o.TopP = *s.TopP
	}
	if s.MinP != nil {
		if *s.MinP < 0 || *s.MinP > 1 {
			return o, stream.InvalidParam("min_p", "min_p must be between 0 and 1, got %g", *s.MinP)
		}
		o.MinP = *s.MinP
	}
	if s.RepeatPenalty != nil {
		if *s.RepeatPenalty < 0 {
			return o, stream.InvalidParam("repeat_penalty", "repeat_penalty must not be negative, got %g", *s.RepeatPenalty)
		}
		o.RepeatPenalty = *s.RepeatPenalty
	}
	if s.Seed != nil {
		o.Seed = uint64(*s.Seed)
	} else {
		o.Seed = rand.Uint64()
	}
	return o, nil
}
