package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sharedFile(t *testing.T, sub string) string {
	t.Helper()
	root := filepath.Join("..", "..", "..", "shared") // cmd/runnel → repo root → ../shared
	if env := os.Getenv("RUNNEL_SHARED"); env != "" {
		root = env
	}
	p := filepath.Join(root, sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s absent", p)
	}
	return p
}

func runTokenize(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newTokenizeCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestTokenize(t *testing.T) {
	tokBin := sharedFile(t, "models/tokenizer.bin")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"llama2c", []string{"--vocab", tokBin, "Once upon a time"}, "9038 2501 263 931\n"},
		{"llama2c bos", []string{"--vocab", tokBin, "--bos", "Once upon a time"}, "1 9038 2501 263 931\n"},
		{"empty", []string{"--vocab", tokBin, ""}, "\n"},
	} {
		got, err := runTokenize(t, c.args...)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	gguf := sharedFile(t, "testdata/vocab/ggml-vocab-llama-spm.gguf")
	if got, err := runTokenize(t, "--vocab", gguf, " Hello world"); err != nil || got != "29871 15043 3186\n" {
		t.Errorf("gguf: got %q, %v", got, err)
	}
	gpt2 := sharedFile(t, "testdata/vocab/ggml-vocab-gpt-2.gguf")
	if got, err := runTokenize(t, "--vocab", gpt2, "--bos", "Hello world"); err != nil || got != "50256 15496 995\n" {
		t.Errorf("gpt2: got %q, %v", got, err)
	}
}

func TestTokenizeErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.bin")
	os.WriteFile(bad, []byte{1, 2}, 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no vocab", []string{"text"}, "--vocab FILE is required"},
		{"no text", []string{"--vocab", bad}, "accepts 1 arg(s), received 0"},
		{"missing file", []string{"--vocab", bad + ".nope", "x"}, "no such file"},
		{"not a tokenizer", []string{"--vocab", bad, "x"}, "llama2.c tokenizer: file too short"},
	} {
		_, err := runTokenize(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}
