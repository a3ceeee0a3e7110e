package enginecmp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/runnel/runnel/engine"
	"github.com/runnel/runnel/internal/cputime"
	"github.com/runnel/runnel/stream"
)

// runnel measures the engine in this process, through the same Stream
// calls the server makes, with the files linked into a models folder of
// its own under names m0, m1, ….
type runnel struct {
	c   Config
	dir string
	e   *engine.Engine
	// letters[i] is how many letters make file i's prompt c.Tokens tokens
	// long (BOS included), found on first use (see promptLetters).
	letters map[int]int
}

func newRunnel(c Config) (*runnel, error) {
	dir, err := os.MkdirTemp("", "runnel-bench-engine-")
	if err != nil {
		return nil, err
	}
	for i, f := range c.Files {
		abs, err := filepath.Abs(f)
		if err == nil {
			err = os.Symlink(abs, filepath.Join(dir, fmt.Sprintf("m%d.gguf", i)))
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	e, err := engine.New(engine.Options{
		ModelsDir:   dir,
		MaxParallel: c.Streams,
		BatchTokens: c.Tokens, // the whole prompt in one step, as llama-bench's pp
		MaxContext:  4 * c.Tokens,
		Threads:     c.Threads,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &runnel{c: c, dir: dir, e: e, letters: map[int]int{}}, nil
}

func (r *runnel) close() {
	r.e.Close()
	os.RemoveAll(r.dir)
}

// generate runs one greedy stream and returns its usage.
func (r *runnel) generate(ctx context.Context, model, prompt string, maxTokens int) (stream.Usage, error) {
	zero := 0.0
	s, err := r.e.Stream(ctx, &stream.Request{Model: model, Prompt: prompt, RawPrompt: true,
		Sampling: stream.Sampling{Temperature: &zero, MaxTokens: maxTokens}})
	if err != nil {
		return stream.Usage{}, err
	}
	res := stream.Collect(s)
	if res.Err != nil {
		return stream.Usage{}, res.Err
	}
	if res.Usage == nil {
		return stream.Usage{}, fmt.Errorf("the engine reported no usage")
	}
	return *res.Usage, nil
}

// promptLetters finds how many letters "a" make a prompt of c.Tokens
// tokens (BOS included), or the most that make fewer: in the synthetic
// models' vocabulary a letter is a token; a real vocabulary merges runs of
// letters, so the count is searched for (it grows with the letters).
func (r *runnel) promptLetters(ctx context.Context, model string) (int, error) {
	count := func(n int) (int, error) {
		u, err := r.generate(ctx, model, strings.Repeat("a", n), 1)
		return u.PromptTokens, err
	}
	lo, hi := 1, 1 // count(lo) <= target, and grow hi until count(hi) > target
	for {
		c, err := count(hi)
		if err != nil {
			return 0, err
		}
		if c == r.c.Tokens {
			return hi, nil
		}
		if c > r.c.Tokens {
			break
		}
		lo, hi = hi, 2*hi
		if hi > 64*r.c.Tokens {
			return lo, nil
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		c, err := count(mid)
		if err != nil {
			return 0, err
		}
		if c == r.c.Tokens {
			return mid, nil
		}
		if c < r.c.Tokens {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// prepare warms file i up (loads the model, faults its pages in) and
// sizes its prompt, once.
func (r *runnel) prepare(ctx context.Context, i int) error {
	model := fmt.Sprintf("m%d", i)
	if _, err := r.generate(ctx, model, "a", 8); err != nil {
		return err
	}
	if _, ok := r.letters[i]; ok {
		return nil
	}
	n, err := r.promptLetters(ctx, model)
	if err != nil {
		return err
	}
	r.letters[i] = n
	return nil
}

// decode is the rate of one greedy stream of c.Tokens tokens from a
// one-letter prompt. The usage's generation time runs from the first token
// (which the prompt's step gives) to the last, so it spans one step fewer
// than the tokens: the wall rate counts those steps, as llama-bench's tgN
// counts its N decodes. The CPU rate divides all the tokens by the
// process's CPU time over the whole stream, as aggregate's does.
func (r *runnel) decode(ctx context.Context, i int) (rate, error) {
	cpu := cputime.Process()
	u, err := r.generate(ctx, fmt.Sprintf("m%d", i), "a", r.c.Tokens)
	if err != nil {
		return rate{}, err
	}
	cpu = cputime.Process() - cpu
	if u.CompletionTokens != r.c.Tokens {
		fmt.Fprintf(r.c.Log, "%s: the stream ended after %d tokens, not %d\n", r.c.Files[i], u.CompletionTokens, r.c.Tokens)
	}
	if u.CompletionTokens < 2 || u.GenerationDuration <= 0 {
		return rate{}, fmt.Errorf("%d tokens generated: no decode rate", u.CompletionTokens)
	}
	return rate{float64(u.CompletionTokens-1) / u.GenerationDuration.Seconds(), perCPU(u.CompletionTokens, cpu)}, nil
}

// perCPU is tokens per CPU second (0 where the platform has no CPU clock).
func perCPU(tokens int, cpu time.Duration) float64 {
	if cpu <= 0 {
		return 0
	}
	return float64(tokens) / cpu.Seconds()
}

// prompt returns file i's prompt rate: c.Tokens prompt tokens over their
// evaluation time.
func (r *runnel) prompt(ctx context.Context, i int) (float64, error) {
	u, err := r.generate(ctx, fmt.Sprintf("m%d", i), strings.Repeat("a", r.letters[i]), 1)
	if err != nil {
		return 0, err
	}
	if u.PromptTokens != r.c.Tokens {
		fmt.Fprintf(r.c.Log, "%s: the prompt is %d tokens, not %d (its vocabulary merges letters)\n", r.c.Files[i], u.PromptTokens, r.c.Tokens)
	}
	return float64(u.PromptTokens) / u.PromptDuration.Seconds(), nil
}

// aggregate returns file i's aggregate rate: the tokens of c.Streams
// concurrent streams over the wall time (and the CPU time) from their
// start to the last one's end.
func (r *runnel) aggregate(ctx context.Context, i int) (rate, error) {
	model := fmt.Sprintf("m%d", i)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var tokens int
	var firstErr error
	start, cpu := time.Now(), cputime.Process()
	for range r.c.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := r.generate(ctx, model, "a", r.c.Tokens)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			tokens += u.CompletionTokens
		}()
	}
	wg.Wait()
	wall, cpu := time.Since(start), cputime.Process()-cpu
	if firstErr != nil {
		return rate{}, firstErr
	}
	return rate{float64(tokens) / wall.Seconds(), perCPU(tokens, cpu)}, nil
}
