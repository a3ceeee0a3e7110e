package tokenizer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sharedDir finds ../shared/<sub> beside the module root (or under
// $RUNNEL_SHARED), skipping the test when it is absent.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	p, ok := sharedPath(sub)
	if !ok {
		t.Skipf("shared %s absent", sub)
	}
	return p
}

func sharedPath(sub string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
	root := filepath.Join(dir, "..", "shared")
	if env := os.Getenv("RUNNEL_SHARED"); env != "" {
		root = env // for checkouts that are not beside shared/
	}
	p := filepath.Join(root, sub)
	if _, err := os.Stat(p); err != nil {
		return "", false
	}
	return p, true
}

// readVectors reads llama.cpp's tokenizer test vectors: the .inp file holds
// the inputs, each followed by a "\n__ggml_vocab_test__\n" line; line i of
// the .out file holds the ids of input i, space-separated.
func readVectors(t *testing.T, vocabPath string) (inputs []string, want [][]int) {
	t.Helper()
	inp, err := os.ReadFile(vocabPath + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(vocabPath + ".out")
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	rest := string(inp)
	for rest != "" {
		i := strings.Index(rest, sep)
		if i < 0 {
			inputs = append(inputs, rest)
			break
		}
		inputs = append(inputs, rest[:i])
		rest = rest[i+len(sep):]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for _, line := range lines {
		var ids []int
		for _, f := range strings.Fields(line) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s.out: %v", vocabPath, err)
			}
			ids = append(ids, n)
		}
		want = append(want, ids)
	}
	if len(inputs) != len(want) {
		t.Fatalf("%s: %d inputs but %d outputs", vocabPath, len(inputs), len(want))
	}
	return inputs, want
}

// TestVocabVectors runs llama.cpp's test-tokenizer-0 vectors for every
// vocabulary in ../shared/testdata/vocab: encoding without BOS and without
// parsing special tokens, as that test does.
func TestVocabVectors(t *testing.T) {
	dir := sharedDir(t, "testdata/vocab")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if len(paths) == 0 {
		t.Skip("no vocab files")
	}
	total, passed := 0, 0
	defer func() { t.Logf("%d/%d vectors pass", passed, total) }()
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			if _, err := os.Stat(p + ".inp"); err != nil {
				t.Skip("no test vectors")
			}
			tok, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			inputs, want := readVectors(t, p)
			pass := 0
			total += len(inputs)
			defer func() { passed += pass }()
			for i, in := range inputs {
				got := tok.Encode(in, false)
				if equal(got, want[i]) {
					pass++
					continue
				}
				t.Errorf("input %d %q:\n got %v\nwant %v", i, in, got, want[i])
			}
			t.Logf("%s: %d/%d vectors pass", filepath.Base(p), pass, len(inputs))
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
