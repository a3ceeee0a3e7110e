package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/sse"
)

type chatFlags struct {
	model       string
	url         string
	apiKey      string
	system      string
	output      string
	interactive bool
	maxTokens   int
	temperature float64
	quiet       bool
}

func init() {
	var f chatFlags
	cmd := &cobra.Command{
		Use:   "chat [PROMPT...]",
		Short: "Chat with a model, streaming the reply as it arrives",
		Long: `Chat with a model through Runnel's OpenAI-compatible API, printing the
reply token by token as it arrives.

The prompt comes from the arguments, else from standard input. When standard
input is a terminal (or with --interactive) chat is multi-turn: each line is
a turn and the conversation is kept; an empty line or Ctrl-D ends it.
TTFT and tokens/s go to standard error at the end of each reply.`,
		Example: `  runnel chat "Once upon a time"
  echo "Tell me a story" | runnel chat --model openai/gpt-4o-mini
  runnel chat --model mock/default -o reply.txt "hi"`,
		RunE: func(cmd *cobra.Command, args []string) error { return chat(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.model, "model", "m", envOr("RUNNEL_MODEL", "stories260K"), "model to chat with (env RUNNEL_MODEL)")
	fl.StringVar(&f.url, "url", envOr("RUNNEL_URL", "http://127.0.0.1:8080"), "Runnel's base URL (env RUNNEL_URL)")
	fl.StringVar(&f.apiKey, "api-key", os.Getenv("RUNNEL_API_KEY"), "API key, when the server requires one (env RUNNEL_API_KEY)")
	fl.StringVarP(&f.system, "system", "s", "", "system prompt")
	fl.StringVarP(&f.output, "output", "o", "", "stream the reply into FILE instead of standard output")
	fl.BoolVarP(&f.interactive, "interactive", "i", false, "multi-turn even when standard input is not a terminal (one turn per line)")
	fl.IntVar(&f.maxTokens, "max-tokens", 0, "maximum tokens in each reply (server default when 0)")
	fl.Float64Var(&f.temperature, "temperature", -1, "sampling temperature (server default when unset)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "do not print TTFT and tokens/s")
	root.AddCommand(cmd)
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func chat(cmd *cobra.Command, f chatFlags, args []string) error {
	out := cmd.OutOrStdout()
	if f.output != "" {
		file, err := os.Create(f.output)
		if err != nil {
			return err
		}
		defer file.Close()
		out = file
	}
	c := &chatClient{flags: f, out: out, stats: cmd.ErrOrStderr(), http: &http.Client{}}
	if f.system != "" {
		c.history = append(c.history, chatMessage{Role: "system", Content: f.system})
	}
	in := cmd.InOrStdin()

	if len(args) > 0 {
		return c.turn(cmd.Context(), strings.Join(args, " "))
	}
	if !f.interactive && !isTerminal(in) {
		b, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		prompt := strings.TrimSpace(string(b))
		if prompt == "" {
			return errors.New("no prompt: give it as arguments or on standard input")
		}
		return c.turn(cmd.Context(), prompt)
	}

	// Multi-turn. Ctrl-C stops the reply being streamed, not the program.
	interactive := isTerminal(in)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		if interactive {
			fmt.Fprint(cmd.ErrOrStderr(), "> ")
		}
		if !sc.Scan() {
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			if interactive {
				return nil
			}
			continue
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
		err := c.turn(ctx, line)
		interrupted := ctx.Err() != nil && cmd.Context().Err() == nil
		stop()
		if interrupted {
			fmt.Fprintln(cmd.ErrOrStderr(), "\n[stopped]")
			continue
		}
		if err != nil {
			return err
		}
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

type chatClient struct {
	flags   chatFlags
	out     io.Writer // the reply
	stats   io.Writer // TTFT and tokens/s
	http    *http.Client
	history []chatMessage
}

// chunk is the part of an OpenAI chat.completion.chunk chat reads.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *apiError `json:"error"`
}

type apiError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

// turn sends prompt with the history so far and streams the reply to
// c.out. The exchange joins the history only when the reply completed.
func (c *chatClient) turn(ctx context.Context, prompt string) error {
	msgs := append(c.history, chatMessage{Role: "user", Content: prompt})
	body := map[string]any{
		"model":          c.flags.model,
		"messages":       msgs,
		"stream":         true,
		"stream_options": map[string]bool{"include_usage": true},
	}
	if c.flags.maxTokens > 0 {
		body["max_tokens"] = c.flags.maxTokens
	}
	if c.flags.temperature >= 0 {
		body["temperature"] = c.flags.temperature
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.flags.url, "/")+"/v1/chat/completions", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if c.flags.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.flags.apiKey)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach Runnel at %s: %w", c.flags.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}

	var (
		reply      strings.Builder
		first      time.Time
		chunks     int
		completion = -1
		finish     string
	)
	events := sse.NewReader(resp.Body)
	for {
		ev, err := events.Next()
		if err == io.EOF {
			return errors.New("the stream ended without [DONE]")
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading the stream: %w", err)
		}
		if ev.Data == "[DONE]" {
			break
		}
		var ch chunk
		if err := json.Unmarshal([]byte(ev.Data), &ch); err != nil {
			return fmt.Errorf("bad event from the server: %v", err)
		}
		if ch.Error != nil {
			if reply.Len() > 0 {
				fmt.Fprintln(c.out)
			}
			return fmt.Errorf("the stream failed: %s", ch.Error.Message)
		}
		if ch.Usage != nil {
			completion = ch.Usage.CompletionTokens
		}
		for _, choice := range ch.Choices {
			if text := choice.Delta.Content; text != "" {
				if first.IsZero() {
					first = time.Now()
				}
				chunks++
				reply.WriteString(text)
				if _, err := io.WriteString(c.out, text); err != nil {
					return err
				}
			}
			if choice.FinishReason != nil {
				finish = *choice.FinishReason
			}
		}
	}
	end := time.Now()
	fmt.Fprintln(c.out)
	c.history = append(msgs, chatMessage{Role: "assistant", Content: reply.String()})

	if !c.flags.quiet {
		if completion < 0 {
			completion = chunks
		}
		c.printStats(start, first, end, completion, finish)
	}
	return nil
}

// printStats writes "TTFT 12ms · 40 tokens · 310.2 tokens/s". The rate is
// the decode rate: tokens after the first over the time after the first.
func (c *chatClient) printStats(start, first, end time.Time, tokens int, finish string) {
	var parts []string
	if first.IsZero() {
		parts = append(parts, "no content")
	} else {
		parts = append(parts, "TTFT "+round(first.Sub(start)).String())
	}
	parts = append(parts, fmt.Sprintf("%d tokens", tokens))
	if d := end.Sub(first); !first.IsZero() && tokens > 1 && d > 0 {
		parts = append(parts, fmt.Sprintf("%.1f tokens/s", float64(tokens-1)/d.Seconds()))
	}
	parts = append(parts, "total "+round(end.Sub(start)).String())
	if finish != "" && finish != "stop" {
		parts = append(parts, "finish "+finish)
	}
	fmt.Fprintf(c.stats, "[%s]\n", strings.Join(parts, " · "))
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func responseError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != nil && e.Error.Message != "" {
		return fmt.Errorf("%s: %s", resp.Status, e.Error.Message)
	}
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
}
