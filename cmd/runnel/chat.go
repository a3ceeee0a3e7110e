package main

import (
	"bufio"
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

	"github.com/runnel/runnel/client"
)

type chatFlags struct {
	model        string
	url          string
	apiKey       string
	system       string
	output       string
	interactive  bool
	maxTokens    int
	temperature  float64
	quiet        bool
	hideThinking bool
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
a turn and the conversation is kept; an empty line at a terminal, Ctrl-D or
/quit ends it. Ctrl-C stops the reply being streamed, not the program.
TTFT and tokens/s go to standard error at the end of each reply.

Thinking is shown dimmed on a terminal; when the reply goes to a file or a
pipe it goes to standard error instead, so the output holds the reply alone.

Commands in multi-turn chat:
  /model [NAME]     show or switch the model
  /system [TEXT]    show or set the system prompt (an empty TEXT clears it)
  /clear            forget the conversation
  /save FILE        save the conversation as JSON
  /metrics          TTFC, chunks/s, chunk gap and usage of the last reply
  /help             this list
  /quit             leave`,
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
	fl.BoolVar(&f.hideThinking, "hide-thinking", false, "do not show the model's thinking")
	root.AddCommand(cmd)
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
	var opts []client.Option
	if f.apiKey != "" {
		opts = append(opts, client.WithAPIKey(f.apiKey))
	}
	s := &chatSession{
		flags:  f,
		client: client.New(f.url, opts...),
		out:    out,
		stats:  cmd.ErrOrStderr(),
		tty:    isTerminal(out),
		system: f.system,
	}
	in := cmd.InOrStdin()

	if len(args) > 0 {
		return s.turn(cmd.Context(), strings.Join(args, " "))
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
		return s.turn(cmd.Context(), prompt)
	}

	interactive := isTerminal(in)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		if interactive {
			fmt.Fprint(s.stats, s.paint(bold, "> "))
		}
		if !sc.Scan() {
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			if interactive {
				return nil
			}
			continue
		case strings.HasPrefix(line, "/"):
			quit, err := s.command(line)
			if err != nil {
				fmt.Fprintln(s.stats, s.paint(red, err.Error()))
			}
			if quit {
				return nil
			}
			continue
		}
		// Ctrl-C stops the reply being streamed, not the program.
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
		err := s.turn(ctx, line)
		interrupted := ctx.Err() != nil && cmd.Context().Err() == nil
		stop()
		if interrupted {
			fmt.Fprintln(s.stats, s.paint(dim, "\n[stopped]"))
			continue
		}
		if err != nil {
			if !interactive {
				return err
			}
			fmt.Fprintln(s.stats, s.paint(red, "error: "+err.Error()))
		}
	}
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// chatSession is one conversation: its settings, history and the metrics of
// its last reply.
type chatSession struct {
	flags   chatFlags
	client  *client.Client
	out     io.Writer // the reply
	stats   io.Writer // prompts, thinking off a terminal, TTFT and tokens/s
	tty     bool      // out is a terminal: colours and inline thinking
	system  string
	history []client.Message // without the system prompt

	last      client.Metrics
	lastUsage *client.Usage
}

const (
	dim   = "\x1b[2m"
	bold  = "\x1b[1m"
	red   = "\x1b[31m"
	reset = "\x1b[0m"
)

// paint wraps s in an ANSI style, only when the output is a terminal.
func (s *chatSession) paint(style, text string) string {
	if !s.tty {
		return text
	}
	return style + text + reset
}

// conversation is the system prompt, if any, and the history, in a new slice.
func (s *chatSession) conversation() []client.Message {
	msgs := make([]client.Message, 0, len(s.history)+2)
	if s.system != "" {
		msgs = append(msgs, client.Message{Role: "system", Content: s.system})
	}
	return append(msgs, s.history...)
}

// turn sends prompt with the history so far and streams the reply. The
// exchange joins the history only when the reply completed.
func (s *chatSession) turn(ctx context.Context, prompt string) error {
	user := client.Message{Role: "user", Content: prompt}
	req := client.ChatRequest{Model: s.flags.model, Messages: append(s.conversation(), user), MaxTokens: s.flags.maxTokens}
	if s.flags.temperature >= 0 {
		req.Temperature = &s.flags.temperature
	}
	st := s.client.StreamChat(ctx, req)
	var reply strings.Builder
	thinking := false // inside a run of thinking text
	endThinking := func() {
		if thinking {
			thinking = false
			if s.tty {
				io.WriteString(s.out, reset+"\n")
			} else {
				io.WriteString(s.stats, "\n")
			}
		}
	}
	var streamErr error
	for ev, err := range st.Events() {
		if err != nil {
			streamErr = err
			break
		}
		if ev.Text == "" {
			continue
		}
		if ev.Channel == "thinking" {
			if s.flags.hideThinking {
				continue
			}
			if s.tty {
				if !thinking {
					io.WriteString(s.out, dim)
				}
				io.WriteString(s.out, ev.Text)
			} else {
				io.WriteString(s.stats, ev.Text)
			}
			thinking = true
			continue
		}
		endThinking()
		reply.WriteString(ev.Text)
		if _, err := io.WriteString(s.out, ev.Text); err != nil {
			return err
		}
	}
	endThinking()
	s.last, s.lastUsage = st.Metrics(), st.Usage()
	if streamErr != nil {
		if reply.Len() > 0 {
			fmt.Fprintln(s.out)
		}
		return chatError(streamErr, s.flags.url)
	}
	fmt.Fprintln(s.out)
	s.history = append(s.history, user, client.Message{Role: "assistant", Content: reply.String()})
	if !s.flags.quiet {
		s.printStats(st.FinishReason())
	}
	return nil
}

// chatError words an SDK error for the terminal.
func chatError(err error, url string) error {
	var apiErr *client.Error
	var connErr *client.ConnectionError
	switch {
	case errors.As(err, &apiErr) && apiErr.MidStream:
		return fmt.Errorf("the stream failed: %s", apiErr.Message)
	case errors.As(err, &apiErr):
		return fmt.Errorf("%d %s: %s", apiErr.Status, http.StatusText(apiErr.Status), apiErr.Message)
	case errors.As(err, &connErr) && !connErr.MidStream:
		return fmt.Errorf("cannot reach Runnel at %s: %w", url, connErr.Err)
	}
	return err
}

// printStats writes "[TTFT 12ms · 40 tokens · 310.2 tokens/s · total 140ms]".
// The rate is the decode rate: chunks after the first over the time after
// the first.
func (s *chatSession) printStats(finish string) {
	m := s.last
	tokens := m.Chunks
	if s.lastUsage != nil {
		tokens = s.lastUsage.CompletionTokens
	}
	var parts []string
	if m.Chunks == 0 {
		parts = append(parts, "no content")
	} else {
		parts = append(parts, "TTFT "+round(m.TTFC).String())
	}
	parts = append(parts, fmt.Sprintf("%d tokens", tokens))
	if m.ChunksPerSecond > 0 {
		parts = append(parts, fmt.Sprintf("%.1f tokens/s", m.ChunksPerSecond))
	}
	parts = append(parts, "total "+round(m.Total).String())
	if finish != "" && finish != "stop" {
		parts = append(parts, "finish "+finish)
	}
	fmt.Fprintln(s.stats, s.paint(dim, "["+strings.Join(parts, " · ")+"]"))
}

// command runs a /command line. quit reports /quit.
func (s *chatSession) command(line string) (quit bool, err error) {
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	say := func(format string, a ...any) { fmt.Fprintf(s.stats, format+"\n", a...) }
	switch name {
	case "/quit", "/exit":
		return true, nil
	case "/help":
		say("/model [NAME]  /system [TEXT]  /clear  /save FILE  /metrics  /quit")
	case "/model":
		if arg != "" {
			s.flags.model = arg
		}
		say("model: %s", s.flags.model)
	case "/system":
		if arg != "" || strings.TrimSpace(line) != "/system" {
			s.system = arg
		}
		if s.system == "" {
			say("no system prompt")
		} else {
			say("system: %s", s.system)
		}
	case "/clear":
		s.history = nil
		say("conversation cleared")
	case "/save":
		if arg == "" {
			return false, errors.New("/save needs a file name")
		}
		b, _ := json.MarshalIndent(struct {
			Model    string           `json:"model"`
			Messages []client.Message `json:"messages"`
		}{s.flags.model, s.conversation()}, "", "  ")
		if err := os.WriteFile(arg, append(b, '\n'), 0o644); err != nil {
			return false, err
		}
		say("saved %d messages to %s", len(s.history), arg)
	case "/metrics":
		m := s.last
		if m.Total == 0 {
			say("no reply yet")
			break
		}
		say("TTFC %s · %d chunks · %.1f chunks/s · mean gap %s · total %s", round(m.TTFC), m.Chunks, m.ChunksPerSecond, round(m.MeanChunkGap), round(m.Total))
		if u := s.lastUsage; u != nil {
			say("usage: %d prompt + %d completion = %d tokens", u.PromptTokens, u.CompletionTokens, u.TotalTokens)
		}
	default:
		return false, fmt.Errorf("unknown command %s (try /help)", name)
	}
	return false, nil
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
