package engine

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/internal/testmodels"
	"github.com/runnel/runnel/stream"
)

// storiesGGUF converts stories260K to GGUF in dir as name.gguf, with the
// metadata entries of set replacing or adding to the converter's.
func storiesGGUF(t *testing.T, dir, name string, set map[string]any) string {
	t.Helper()
	src := testmodels.Dir(t)
	tmp := filepath.Join(t.TempDir(), "src.gguf")
	if _, err := models.Convert(filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"), tmp, models.ConvertTypes["f32"]); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.KV {
		if _, ok := set[kv.Key]; ok || kv.Key == "general.alignment" {
			continue
		}
		if err := w.Add(kv.Key, kv.Value.Data); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range set {
		if err := w.Add(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range f.Tensors {
		tn, err := f.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(tn.Name, tn.Type, tn.Dims, tn.Data); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name+".gguf")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(out); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A token the metadata names as end of turn ends a greedy generation just
// before it would be written, and add_bos_token = false leaves BOS out of
// the prompt.
func TestEndOfTurnAndAddBOS(t *testing.T) {
	dir := t.TempDir()
	eot := testmodels.GreedyIDs[20]
	k := slices.Index(testmodels.GreedyIDs, eot)
	storiesGGUF(t, dir, "eot", map[string]any{"tokenizer.ggml.eot_token_id": uint32(eot)})
	storiesGGUF(t, dir, "nobos", map[string]any{"tokenizer.ggml.add_bos_token": false})
	e := newEngine(t, Options{ModelsDir: dir})

	req := chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0), MaxTokens: 100})
	req.Model = "eot"
	res := collect(t, e, req)
	if res.Err != nil || res.Finish != stream.FinishStop || res.Usage.CompletionTokens != k || res.Usage.PromptTokens != 5 {
		t.Fatalf("eot: %v %s %+v, want stop after %d tokens", res.Err, res.Finish, res.Usage, k)
	}

	req = chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0), MaxTokens: 3})
	req.Model = "nobos"
	res = collect(t, e, req)
	if res.Err != nil || res.Usage.PromptTokens != 4 {
		t.Fatalf("nobos: %v %+v, want 4 prompt tokens", res.Err, res.Usage)
	}
}
