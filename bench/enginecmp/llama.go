package enginecmp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// llamaCpp runs the programs of a llama.cpp build: llama-bench for decode
// and prompt figures, llama-server with one slot per stream for the
// aggregate one.
type llamaCpp struct{ benchBin, server string }

func findLlamaCpp(dir string) (*llamaCpp, error) {
	for _, sub := range []string{".", "bin", filepath.Join("build", "bin")} {
		b, s := filepath.Join(dir, sub, "llama-bench"), filepath.Join(dir, sub, "llama-server")
		if exists(b) && exists(s) {
			return &llamaCpp{benchBin: b, server: s}, nil
		}
	}
	return nil, fmt.Errorf("no llama-bench and llama-server in %s, %s/bin or %s/build/bin", dir, dir, dir)
}

// prompt returns llama-bench's ppN rate (its own warm-up run first).
func (l *llamaCpp) prompt(ctx context.Context, file string, c Config) (float64, error) {
	pp, _, err := l.bench(ctx, file, c, c.Tokens, 0)
	if err == nil && pp == 0 {
		err = fmt.Errorf("llama-bench printed no pp test")
	}
	return pp, err
}

// decode returns llama-bench's tgN rate: one repetition (-r 1) of N
// single-token decodes from an empty context, after its one-token warm-up.
func (l *llamaCpp) decode(ctx context.Context, file string, c Config) (float64, error) {
	_, tg, err := l.bench(ctx, file, c, 0, c.Tokens)
	if err == nil && tg == 0 {
		err = fmt.Errorf("llama-bench printed no tg test")
	}
	return tg, err
}

func (l *llamaCpp) bench(ctx context.Context, file string, c Config, prompt, gen int) (pp, tg float64, err error) {
	out, err := exec.CommandContext(ctx, l.benchBin, "-m", file, "-p", strconv.Itoa(prompt), "-n", strconv.Itoa(gen),
		"-t", strconv.Itoa(c.Threads), "-r", "1", "-o", "json").Output()
	if err != nil {
		return 0, 0, fmt.Errorf("llama-bench: %w", err)
	}
	return parseLlamaBench(out)
}

// aggregate starts llama-server with c.Streams slots, each with room for
// its prompt and c.Tokens tokens, and times c.Streams concurrent
// completions of c.Tokens tokens from the prompt "a".
func (l *llamaCpp) aggregate(ctx context.Context, file string, c Config) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.server, "-m", file, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"-np", strconv.Itoa(c.Streams), "-c", strconv.Itoa(c.Streams*2*c.Tokens), "-t", strconv.Itoa(c.Threads))
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("llama-server: %w", err)
	}
	defer cmd.Wait()
	defer cancel()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Minute); ; {
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("llama-server on port %d did not become healthy", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
	complete := func(n int) (int, error) {
		body, _ := json.Marshal(map[string]any{"prompt": "a", "n_predict": n, "temperature": 0,
			"ignore_eos": true, "cache_prompt": false})
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/completion", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var out struct {
			TokensPredicted int `json:"tokens_predicted"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("llama-server: %s", resp.Status)
		}
		return out.TokensPredicted, nil
	}
	if _, err := complete(8); err != nil { // warm up
		return 0, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var tokens int
	var firstErr error
	start := time.Now()
	for range c.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := complete(c.Tokens)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			tokens += n
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(tokens) / time.Since(start).Seconds(), nil
}

// parseLlamaBench reads the prompt (pp) and decode (tg) rates, in tokens
// per second, from llama-bench's JSON output; a test it did not run is 0,
// and output with neither is an error.
func parseLlamaBench(out []byte) (prompt, decode float64, err error) {
	var rows []struct {
		NPrompt int     `json:"n_prompt"`
		NGen    int     `json:"n_gen"`
		AvgTS   float64 `json:"avg_ts"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		return 0, 0, fmt.Errorf("llama-bench output: %w", err)
	}
	for _, r := range rows {
		switch {
		case r.NPrompt > 0 && r.NGen == 0 && r.AvgTS > 0:
			prompt = r.AvgTS
		case r.NGen > 0 && r.NPrompt == 0 && r.AvgTS > 0:
			decode = r.AvgTS
		}
	}
	if prompt == 0 && decode == 0 {
		return 0, 0, fmt.Errorf("llama-bench output has no pp or tg test: %.200s", out)
	}
	return prompt, decode, nil
}
