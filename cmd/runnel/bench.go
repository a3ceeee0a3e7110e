package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/bench"
)

func init() {
	var (
		cfg      bench.Config
		arrivals string
		endpoint string
		jsonPath string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test an OpenAI-compatible streaming endpoint",
		Long: `bench sends streamed chat completions to any OpenAI-compatible endpoint and
reports, as vLLM's benchmark_serving defines them:

  TTFT  time to first token: first content chunk − send
  ITL   inter-token latency: the gaps between successive content chunks
  TPOT  time per output token: (e2e − TTFT) / (output tokens − 1)
  E2EL  end-to-end latency of the request

with their mean, median, p90 and p99, and request and output-token
throughput. Output tokens come from the usage the server reports
(stream_options.include_usage), else from the number of content chunks.

Load is closed-loop with --concurrency requests in flight, or open-loop with
--rate requests per second (Poisson arrivals, or --arrivals fixed), capped by
--concurrency if it is also given.

To measure Runnel's own overhead, run a mock upstream with
"runnel bench mock", then bench it directly and through "runnel serve".`,
		Example: `  runnel bench --base-url http://127.0.0.1:8080/v1 --model mock/default --requests 200 --concurrency 50
  runnel bench --model openai/gpt-4o-mini --rate 5 --requests 100 --json result.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch arrivals {
			case "poisson":
			case "fixed":
				cfg.Fixed = true
			default:
				return fmt.Errorf("--arrivals must be poisson or fixed, not %q", arrivals)
			}
			switch endpoint {
			case "chat":
			case "completions":
				cfg.Completions = true
			default:
				return fmt.Errorf("--endpoint must be chat or completions, not %q", endpoint)
			}
			if cfg.APIKey == "" {
				cfg.APIKey = firstEnv("RUNNEL_API_KEY", "OPENAI_API_KEY")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			res, err := bench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			res.WriteTable(cmd.OutOrStdout())
			if jsonPath != "" {
				f, err := os.Create(jsonPath)
				if err != nil {
					return err
				}
				if err := res.WriteJSON(f); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			if res.Completed == 0 {
				return fmt.Errorf("all %d requests failed", res.Failed)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.BaseURL, "base-url", "http://127.0.0.1:8080/v1", "API root of the endpoint under test")
	fl.StringVar(&cfg.Model, "model", "", "model to request (required)")
	fl.StringVar(&cfg.APIKey, "api-key", "", "API key (default $RUNNEL_API_KEY or $OPENAI_API_KEY)")
	fl.StringVar(&cfg.Prompt, "prompt", "Tell me a story.", "prompt of every request")
	fl.IntVar(&cfg.MaxTokens, "max-tokens", 128, "max_tokens of every request (0: the server's default)")
	fl.IntVarP(&cfg.Requests, "requests", "n", 100, "number of requests")
	fl.IntVarP(&cfg.Concurrency, "concurrency", "c", 0, "maximum requests in flight (default 1 without --rate, unlimited with it)")
	fl.Float64Var(&cfg.Rate, "rate", 0, "requests per second (0: closed loop at --concurrency)")
	fl.StringVar(&arrivals, "arrivals", "poisson", "arrival process with --rate: poisson or fixed")
	fl.Uint64Var(&cfg.Seed, "seed", 0, "seed of the Poisson arrivals")
	fl.StringVar(&endpoint, "endpoint", "chat", "chat (/chat/completions) or completions (/completions)")
	fl.StringVar(&jsonPath, "json", "", "also write the results as JSON to this file")
	cmd.MarkFlagRequired("model")
	cmd.AddCommand(newBenchMockCmd())
	cmd.AddCommand(newBenchEngineCmd())
	root.AddCommand(cmd)
}

func firstEnv(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}
