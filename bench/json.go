package bench

import (
	"encoding/json"
	"io"
	"math"
	"time"
)

// WriteJSON writes the result with benchmark_serving's key names: flat
// mean_/median_/std_/pNN_ metrics in milliseconds, and per-request arrays
// (ttfts, itls, e2els in seconds; input_lens, output_lens; errors).
func (r *Result) WriteJSON(w io.Writer) error {
	c := r.Config
	out := map[string]any{
		"date":                   time.Now().UTC().Format(time.RFC3339),
		"backend":                "openai-chat",
		"base_url":               c.BaseURL,
		"model_id":               c.Model,
		"num_prompts":            c.Requests,
		"max_tokens":             c.MaxTokens,
		"max_concurrency":        nilIfZero(c.Concurrency),
		"request_rate":           rateValue(c.Rate),
		"arrivals":               arrivals(c),
		"duration":               r.DurationS,
		"completed":              r.Completed,
		"failed":                 r.Failed,
		"total_input_tokens":     r.TotalInputTokens,
		"total_output_tokens":    r.TotalOutputTokens,
		"request_throughput":     r.RequestThroughput,
		"output_throughput":      r.OutputThroughput,
		"total_token_throughput": r.TotalTokenThroughput,
	}
	if c.Completions {
		out["backend"] = "openai"
	}
	for name, s := range map[string]Stats{"ttft": r.TTFT, "tpot": r.TPOT, "itl": r.ITL, "e2el": r.E2EL} {
		out["mean_"+name+"_ms"] = s.Mean
		out["median_"+name+"_ms"] = s.Median
		out["std_"+name+"_ms"] = s.Std
		out["p50_"+name+"_ms"] = s.P50
		out["p90_"+name+"_ms"] = s.P90
		out["p99_"+name+"_ms"] = s.P99
	}
	n := len(r.Requests)
	ttfts, e2els := make([]float64, n), make([]float64, n)
	itls := make([][]float64, n)
	inLens, outLens := make([]int, n), make([]int, n)
	errs := make([]string, n)
	for i, q := range r.Requests {
		ttfts[i], e2els[i] = q.TTFT.Seconds(), q.E2E.Seconds()
		itls[i] = make([]float64, len(q.ITL))
		for j, g := range q.ITL {
			itls[i][j] = g.Seconds()
		}
		inLens[i], outLens[i], errs[i] = q.PromptTokens, q.OutputTokens, q.Err
	}
	out["ttfts"], out["e2els"], out["itls"] = ttfts, e2els, itls
	out["input_lens"], out["output_lens"], out["errors"] = inLens, outLens, errs
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nilIfZero(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

// rateValue is the rate, or "inf" (as vLLM writes it) when unthrottled.
func rateValue(r float64) any {
	if r == 0 || math.IsInf(r, 1) {
		return "inf"
	}
	return r
}

func arrivals(c Config) string {
	switch {
	case c.Rate == 0:
		return "closed-loop"
	case c.Fixed:
		return "fixed"
	}
	return "poisson"
}
