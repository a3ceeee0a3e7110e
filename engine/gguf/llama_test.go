package gguf

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAddLlamaWriteFile(t *testing.T) {
	w := NewWriter()
	m := Llama{Name: "tiny", FileType: 7, Context: 64, Dim: 8, Hidden: 16, Layers: 1, Heads: 2, KVHeads: 1, RopeBase: 5e5,
		Tokens: []string{"<unk>", "<s>", "</s>", "a"}, Scores: []float32{0, 0, 0, -1}, TokenTypes: []int32{2, 3, 3, 1}}
	if err := w.AddLlama(m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	n, err := w.WriteFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != n {
		t.Fatalf("stat %v, size against %d written: %v", st, n, err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for key, want := range map[string]uint32{
		"llama.rope.dimension_count": 4, "llama.vocab_size": 4, "llama.attention.head_count_kv": 1,
		"general.file_type": 7, "tokenizer.ggml.eos_token_id": 2,
	} {
		if got, err := f.Uint32(key); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, err, want)
		}
	}
	if got, _ := f.Float32("llama.rope.freq_base"); got != 5e5 {
		t.Errorf("freq_base %v", got)
	}
	if got, _ := f.Strings("tokenizer.ggml.tokens"); len(got) != 4 || got[3] != "a" {
		t.Errorf("tokens %q", got)
	}
	if err := NewWriter().AddLlama(Llama{Dim: 9, Heads: 2}); err == nil {
		t.Error("a width of 9 over 2 heads was accepted")
	}
}

// A write that fails leaves neither the file nor its temporary.
func TestWriteFileFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := os.Mkdir(path+".tmp", 0o755); err != nil { // os.Create of the temporary fails
		t.Fatal(err)
	}
	if _, err := NewWriter().WriteFile(path); err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s exists after a failed write: %v", path, err)
	}
}
