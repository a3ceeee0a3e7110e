package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/runnel/runnel/internal/testmodels"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// TestPullConvertModels pulls stories260K from a local stand-in for
// Hugging Face, converts it to GGUF and lists the directory.
func TestPullConvertModels(t *testing.T) {
	t.Setenv("OLLAMA_MODELS", t.TempDir()) // an empty Ollama store
	src := testmodels.Dir(t)
	files := map[string][]byte{}
	for _, f := range []string{"stories260K.bin", "tok512.bin"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		files["/karpathy/tinyllamas/resolve/main/stories260K/"+f] = b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(b)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}))
	defer srv.Close()
	dir := t.TempDir()

	out, stderr, err := run(t, "pull", "stories260K", "--models-dir", dir, "--base-url", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "stories260K.bin: 1.0 MiB, sha256 ") || !strings.Contains(out, "verified") ||
		!strings.Contains(stderr, "downloading tok512.bin (6.1 KiB)\n") {
		t.Fatalf("pull printed:\n%s\nstderr:\n%s", out, stderr)
	}
	out, _, err = run(t, "convert", filepath.Join(dir, "stories260K.bin"), filepath.Join(dir, "s16.gguf"), "--type", "f16")
	if err != nil || !strings.HasPrefix(out, "wrote "+filepath.Join(dir, "s16.gguf")+": 47 tensors") {
		t.Fatalf("convert: %q, %v", out, err)
	}
	out, _, err = run(t, "models", "--models-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "NAME         FORMAT   SIZE       PARAMS  CONTEXT\n" +
		"s16          gguf     523.1 KiB  260K    512\n" +
		"stories260K  llama2c  1.0 MiB    260K    512\n"
	if out != want {
		t.Fatalf("models:\n%s\nwant\n%s", out, want)
	}
	if _, _, err := run(t, "convert", filepath.Join(dir, "stories260K.bin"), filepath.Join(dir, "x.gguf"), "--type", "q2"); err == nil ||
		!strings.Contains(err.Error(), "want one of bf16, f16, f32, q4_0, q8_0") {
		t.Fatalf("bad type: %v", err)
	}
	out, _, _ = run(t, "models", "--models-dir", t.TempDir())
	if !strings.Contains(out, "runnel pull --models-dir ") || !strings.Contains(out, " stories260K`") {
		t.Fatalf("empty dir: %q", out)
	}
}
