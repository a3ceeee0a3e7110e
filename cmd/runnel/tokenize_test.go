package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/internal/testmodels"
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

// runnel tokenize reads the vocabulary of a file whose tensor types the
// engine does not know.
func TestTokenizeUnknownTensorType(t *testing.T) {
	src := testmodels.Dir(t)
	path := filepath.Join(t.TempDir(), "stories.gguf")
	if _, err := models.Convert(filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"), path, models.ConvertTypes["f32"]); err != nil {
		t.Fatal(err)
	}
	want, err := runTokenize(t, "--vocab", path, "Once upon a time")
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	name := f.Tensors[0].Name
	f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The first tensor info: its name, dimension count, dimensions, type.
	i := bytes.Index(data, []byte(name)) + len(name)
	nd := int(binary.LittleEndian.Uint32(data[i:]))
	binary.LittleEndian.PutUint32(data[i+4+8*nd:], 99)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := gguf.Open(path); err == nil || !strings.Contains(err.Error(), "unknown tensor type 99") {
		t.Fatalf("gguf.Open of the patched file: %v", err)
	}
	got, err := runTokenize(t, "--vocab", path, "Once upon a time")
	if err != nil || got != want {
		t.Fatalf("tokenize = %q, %v; want %q", got, err, want)
	}
}
