// Package bench is a load generator for OpenAI-compatible streaming
// endpoints. It measures each request's time to first token, inter-token
// latencies, time per output token and end-to-end latency, and summarises
// them as vLLM's benchmark_serving does, so figures compare with its.
package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/runnel/runnel/dialect/anthropic"
	"github.com/runnel/runnel/dialect/openai"
	"github.com/runnel/runnel/stream"
)

// Config describes a benchmark run.
type Config struct {
	BaseURL   string // API root, e.g. http://127.0.0.1:8080/v1
	Model     string
	APIKey    string
	Prompt    string
	MaxTokens int // 0 leaves it to the server
	// Completions uses /completions with a raw prompt instead of
	// /chat/completions.
	Completions bool

	Requests int // total requests
	// Concurrency caps requests in flight; 0 means no cap (with Rate) or 1
	// (without).
	Concurrency int
	// Rate is the request rate in requests per second; 0 sends the next
	// request as soon as a concurrency slot frees.
	Rate float64
	// Fixed spaces arrivals evenly at Rate instead of as a Poisson process.
	Fixed bool
	// Seed makes Poisson arrivals reproducible.
	Seed uint64

	// HTTPClient to use; a pooled client sized for Concurrency when nil.
	HTTPClient *http.Client
	// API is the API the requests speak: "openai" (or "") for chat
	// completions under BaseURL, "anthropic" for Anthropic's Messages API
	// (BaseURL is then the root, without /v1).
	API string
}

// Request is one request's measurements.
type Request struct {
	Start        time.Time
	TTFT         time.Duration   // first content chunk − send
	ITL          []time.Duration // gaps between successive content chunks
	E2E          time.Duration   // last event − send
	OutputTokens int             // from usage, else the number of content chunks
	PromptTokens int
	Chunks       int // content chunks received
	// Digest is an FNV-1a hash of the output text, to compare what two
	// runs of the same prompt delivered.
	Digest uint64
	Err    string
}

// Run sends cfg.Requests streamed requests and measures them. It returns
// an error only if the run could not start; failed requests are counted in
// the result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("bench: base URL and model are required")
	}
	if cfg.Requests < 1 {
		return nil, errors.New("bench: requests must be at least 1")
	}
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) {
		return nil, errors.New("bench: rate must not be negative")
	}
	if cfg.Concurrency < 0 {
		return nil, errors.New("bench: concurrency must not be negative")
	}
	if cfg.Concurrency == 0 && cfg.Rate == 0 {
		cfg.Concurrency = 1
	}
	client := cfg.HTTPClient
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 0
		t.MaxIdleConnsPerHost = max(cfg.Concurrency, 64)
		client = &http.Client{Transport: t}
	}
	var p stream.Provider
	switch cfg.API {
	case "", "openai":
		p = openai.NewProvider(openai.Config{BaseURL: cfg.BaseURL, APIKey: cfg.APIKey, HTTPClient: client, Name: "bench"})
	case "anthropic":
		if cfg.Completions {
			return nil, errors.New("bench: the anthropic API has no completions endpoint")
		}
		p = anthropic.NewProvider(anthropic.Config{BaseURL: cfg.BaseURL, APIKey: cfg.APIKey, HTTPClient: client, Name: "bench"})
	default:
		return nil, fmt.Errorf("bench: unknown API %q (openai or anthropic)", cfg.API)
	}

	results := make([]Request, cfg.Requests)
	var sem chan struct{}
	if cfg.Concurrency > 0 {
		sem = make(chan struct{}, cfg.Concurrency)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	var wg sync.WaitGroup
	start := time.Now()
	next := start
	for i := range results {
		if cfg.Rate > 0 && i > 0 {
			gap := 1 / cfg.Rate
			if !cfg.Fixed {
				gap = rng.ExpFloat64() / cfg.Rate
			}
			next = next.Add(time.Duration(gap * float64(time.Second)))
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		held := false // a slot of sem, to give back
		if sem != nil {
			select {
			case sem <- struct{}{}:
				held = true
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			results[i].Err = "run cancelled before the request was sent"
			if held {
				<-sem
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sem != nil {
				defer func() { <-sem }()
			}
			results[i] = one(ctx, p, &cfg)
		}()
	}
	wg.Wait()
	return summarise(cfg, results, time.Since(start)), nil
}

// one sends a request and times its stream.
func one(ctx context.Context, p stream.Provider, cfg *Config) Request {
	req := &stream.Request{Model: cfg.Model, Sampling: stream.Sampling{MaxTokens: cfg.MaxTokens}}
	if cfg.Completions {
		req.Prompt, req.RawPrompt = cfg.Prompt, true
	} else {
		req.Messages = []stream.Message{{Role: stream.RoleUser, Content: cfg.Prompt}}
	}
	r := Request{Start: time.Now()}
	s, err := p.Stream(ctx, req)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer s.Close()
	last := r.Start
	var usage *stream.Usage
	digest := fnv.New64a()
	for {
		ev, err := s.Recv()
		now := time.Now()
		if err == io.EOF {
			break
		}
		if err != nil {
			r.Err = err.Error()
			break
		}
		switch ev.Kind {
		case stream.KindDelta:
			if r.Chunks == 0 {
				r.TTFT = now.Sub(r.Start)
			} else {
				r.ITL = append(r.ITL, now.Sub(last))
			}
			r.Chunks++
			last = now
			io.WriteString(digest, ev.Text)
		case stream.KindUsage:
			usage = ev.Usage
		case stream.KindError:
			r.Err = ev.Err.Message
		}
	}
	r.E2E = last.Sub(r.Start)
	r.Digest = digest.Sum64()
	r.OutputTokens = r.Chunks
	if usage != nil {
		r.OutputTokens, r.PromptTokens = usage.CompletionTokens, usage.PromptTokens
	}
	if r.Err == "" && r.Chunks == 0 {
		r.Err = "no content received"
	}
	return r
}

// Stats summarises one metric in milliseconds.
type Stats struct {
	Mean   float64
	Median float64
	Std    float64
	P50    float64
	P90    float64
	P99    float64
	Max    float64
	N      int
}

// Result is a run's summary, in vLLM benchmark_serving's terms.
type Result struct {
	Config   Config
	Duration time.Duration

	Completed         int
	Failed            int
	TotalInputTokens  int
	TotalOutputTokens int
	DurationS         float64
	// Requests and output tokens per second over the whole run.
	RequestThroughput    float64
	OutputThroughput     float64
	TotalTokenThroughput float64

	TTFT Stats
	TPOT Stats
	ITL  Stats
	E2EL Stats

	Requests []Request
	Errors   []string
}

func summarise(cfg Config, reqs []Request, d time.Duration) *Result {
	r := &Result{Config: cfg, Duration: d, DurationS: d.Seconds(), Requests: reqs}
	var ttft, tpot, itl, e2el []float64
	for _, q := range reqs {
		if q.Err != "" {
			r.Failed++
			if len(r.Errors) < 20 {
				r.Errors = append(r.Errors, q.Err)
			}
			continue
		}
		r.Completed++
		r.TotalInputTokens += q.PromptTokens
		r.TotalOutputTokens += q.OutputTokens
		ttft = append(ttft, ms(q.TTFT))
		e2el = append(e2el, ms(q.E2E))
		if q.OutputTokens > 1 {
			tpot = append(tpot, ms(q.E2E-q.TTFT)/float64(q.OutputTokens-1))
		}
		for _, g := range q.ITL {
			itl = append(itl, ms(g))
		}
	}
	if s := d.Seconds(); s > 0 {
		r.RequestThroughput = float64(r.Completed) / s
		r.OutputThroughput = float64(r.TotalOutputTokens) / s
		r.TotalTokenThroughput = float64(r.TotalInputTokens+r.TotalOutputTokens) / s
	}
	r.TTFT, r.TPOT, r.ITL, r.E2EL = stats(ttft), stats(tpot), stats(itl), stats(e2el)
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func stats(v []float64) Stats {
	s := Stats{N: len(v)}
	if len(v) == 0 {
		return s
	}
	sort.Float64s(v)
	var sum float64
	for _, x := range v {
		sum += x
	}
	s.Mean = sum / float64(len(v))
	var sq float64
	for _, x := range v {
		sq += (x - s.Mean) * (x - s.Mean)
	}
	s.Std = math.Sqrt(sq / float64(len(v)))
	s.Median = Percentile(v, 50)
	s.P50, s.P90, s.P99 = s.Median, Percentile(v, 90), Percentile(v, 99)
	s.Max = v[len(v)-1]
	return s
}

// Percentile returns the p-th percentile of sorted values with linear
// interpolation between closest ranks (numpy's default, which vLLM uses).
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	if hi >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (sorted[hi]-sorted[lo])*(rank-float64(lo))
}

// WriteTable prints the summary as a table.
func (r *Result) WriteTable(w io.Writer) {
	c := r.Config
	mode := fmt.Sprintf("concurrency %d", c.Concurrency)
	if c.Rate > 0 {
		arr := "poisson"
		if c.Fixed {
			arr = "fixed"
		}
		mode = fmt.Sprintf("rate %g req/s (%s)", c.Rate, arr)
		if c.Concurrency > 0 {
			mode += fmt.Sprintf(", max concurrency %d", c.Concurrency)
		}
	}
	line := func(k string, v any) { fmt.Fprintf(w, "%-34s %v\n", k, v) }
	fmt.Fprintf(w, "============ Serving Benchmark Result ============\n")
	line("Model:", c.Model)
	line("Mode:", mode)
	line("Successful requests:", r.Completed)
	line("Failed requests:", r.Failed)
	line("Benchmark duration (s):", fmt.Sprintf("%.2f", r.DurationS))
	line("Total input tokens:", r.TotalInputTokens)
	line("Total generated tokens:", r.TotalOutputTokens)
	line("Request throughput (req/s):", fmt.Sprintf("%.2f", r.RequestThroughput))
	line("Output token throughput (tok/s):", fmt.Sprintf("%.2f", r.OutputThroughput))
	line("Total token throughput (tok/s):", fmt.Sprintf("%.2f", r.TotalTokenThroughput))
	for _, m := range []struct {
		title, short string
		s            Stats
	}{
		{"Time to First Token", "TTFT", r.TTFT},
		{"Time per Output Token (excl. 1st token)", "TPOT", r.TPOT},
		{"Inter-token Latency", "ITL", r.ITL},
		{"End-to-end Latency", "E2EL", r.E2EL},
	} {
		fmt.Fprintf(w, "%s\n", center(m.title, 50, '-'))
		line("Mean "+m.short+" (ms):", fmt.Sprintf("%.3f", m.s.Mean))
		line("Median "+m.short+" (ms):", fmt.Sprintf("%.3f", m.s.Median))
		line("P90 "+m.short+" (ms):", fmt.Sprintf("%.3f", m.s.P90))
		line("P99 "+m.short+" (ms):", fmt.Sprintf("%.3f", m.s.P99))
	}
	fmt.Fprintf(w, "%s\n", center("", 50, '='))
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

func center(s string, width int, fill byte) string {
	if s != "" {
		s = " " + s + " "
	}
	pad := width - len(s)
	if pad <= 0 {
		return s
	}
	b := make([]byte, 0, width)
	for range pad / 2 {
		b = append(b, fill)
	}
	b = append(b, s...)
	for len(b) < width {
		b = append(b, fill)
	}
	return string(b)
}
