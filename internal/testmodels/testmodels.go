// Package testmodels finds the shared test models (stories260K and its
// tokenizers) for tests, which skip when they are absent.
package testmodels

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the directory holding stories260K.bin, tok512.bin and
// tokenizer.bin: shared/models beside the module root (or beside one of
// its ancestors, for worktrees nested deeper). It skips the test when no
// such directory exists.
func Dir(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	root := ""
	for d := wd; ; d = filepath.Dir(d) {
		if root == "" {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				root = d
			}
		}
		if root != "" && d != root {
			dir := filepath.Join(d, "shared", "models")
			if _, err := os.Stat(filepath.Join(dir, "stories260K.bin")); err == nil {
				return dir
			}
		}
		if filepath.Dir(d) == d {
			tb.Skip("shared/models (stories260K.bin) not found beside the module root")
		}
	}
}

// Path returns the path of a file in Dir.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), name)
}

// NoOllamaStore points OLLAMA_MODELS at a directory that does not exist,
// so that a package's tests see an empty Ollama store rather than the
// developer's ~/.ollama; call it from TestMain. Tests that need a store
// set their own with t.Setenv.
func NoOllamaStore() {
	d, err := os.MkdirTemp("", "runnel-no-ollama-store-")
	if err == nil {
		os.Remove(d) // a unique name that nothing holds
	}
	os.Setenv("OLLAMA_MODELS", d)
}

// OllamaStore makes an Ollama store in a temp dir holding blob (a GGUF
// file) under each of the given library names ("model/tag"), as Ollama
// lays it out, and points OLLAMA_MODELS at it for the test.
func OllamaStore(t *testing.T, blob []byte, names ...string) string {
	t.Helper()
	store := t.TempDir()
	sum := sha256.Sum256(blob)
	digest := hex.EncodeToString(sum[:])
	man := fmt.Sprintf(`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":%d}]}`, digest, len(blob))
	files := map[string][]byte{"blobs/sha256-" + digest: blob}
	for _, n := range names {
		files["manifests/registry.ollama.ai/library/"+n] = []byte(man)
	}
	for p, b := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(store, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(store, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("OLLAMA_MODELS", store)
	return store
}
