// Package testmodels finds the shared test models (stories260K and its
// tokenizers) for tests, which skip when they are absent.
package testmodels

import (
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
