package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestBenchAgainstBenchMock runs `runnel bench mock` and points `runnel
// bench` at it: the two commands of the overhead recipe.
func TestBenchAgainstBenchMock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// ExecuteContext keeps ctx in root, and cobra in each subcommand it
	// ran (set once, when it had none); later tests must not inherit it
	// cancelled.
	t.Cleanup(func() {
		root.SetContext(context.Background())
		forgetContexts(root)
	})
	pr, pw := io.Pipe()
	root.SetErr(pw)
	root.SetArgs([]string{"bench", "mock", "--addr", "127.0.0.1:0", "--tokens", "6", "--text", "one two three"})
	served := make(chan error, 1)
	go func() {
		served <- root.ExecuteContext(ctx)
		pw.Close()
	}()
	var addr string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatalf("no ready line: %v", <-served)
	}

	path := filepath.Join(t.TempDir(), "result.json")
	out, _, err := run(t, "bench", "--base-url", "http://"+addr+"/v1", "--model", "default", "--prompt", "a b",
		"-n", "8", "-c", "4", "--json", path)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	for _, want := range []string{"Successful requests:               8", "Total generated tokens:            48", "Total input tokens:                16", "Median TTFT (ms):"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Completed   int   `json:"completed"`
		OutputLens  []int `json:"output_lens"`
		MaxConc     int   `json:"max_concurrency"`
		TotalOutput int   `json:"total_output_tokens"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Completed != 8 || len(res.OutputLens) != 8 || res.OutputLens[0] != 6 || res.MaxConc != 4 || res.TotalOutput != 48 {
		t.Errorf("json %+v", res)
	}

	cancel()
	if err := <-served; err != nil {
		t.Errorf("bench mock: %v", err)
	}
}

// forgetContexts clears the contexts cobra kept in c's subcommands, so
// that each takes its parent's again when it next runs.
func forgetContexts(c *cobra.Command) {
	for _, sub := range c.Commands() {
		sub.SetContext(nil) //nolint:staticcheck // nil is cobra's "not set"
		forgetContexts(sub)
	}
}
