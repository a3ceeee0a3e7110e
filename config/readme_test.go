package config_test

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every RUNNEL_ variable the program reads (a string literal in a non-test
// file outside test/) is in README.md's list of environment variables, so
// that the list stays the one place a user looks.
func TestReadmeListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### Environment variables\n")
	if !ok {
		t.Fatal("README.md has no Environment variables section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	lit := regexp.MustCompile(`"(RUNNEL_[A-Z0-9_]+)"`)
	missing := map[string]string{} // variable → a file that reads it
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || path == filepath.Join("..", "test")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllStringSubmatch(string(src), -1) {
			if !strings.Contains(section, "`"+m[1]) {
				missing[m[1]] = path
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range slices.Sorted(maps.Keys(missing)) {
		t.Errorf("README.md's Environment variables section does not name %s (read in %s)", v, missing[v])
	}
}
