package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/runnel/runnel/engine/synth"
	"github.com/runnel/runnel/internal/testmodels"
)

// /v1/models and /api/tags list the models of Ollama's store beside the
// models directory's, under the names requests use for them.
func TestServeListsOllamaStore(t *testing.T) {
	spec, _ := synth.Named("qwen2")
	w, err := synth.GGUF(spec.Tiny(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var blob bytes.Buffer
	if _, err := w.WriteTo(&blob); err != nil {
		t.Fatal(err)
	}
	testmodels.OllamaStore(t, blob.Bytes(), "qwen2/tiny")
	ts := serveTest(t, accountOptions{}, map[string]string{"RUNNEL_MODELS": t.TempDir()})

	// Each list as its dialect writes it: OpenAI's data[].id, Ollama's
	// models[].name.
	for _, path := range []string{"/v1/models", "/api/tags"} {
		status, body := do(t, "GET", ts.URL+path, "", "")
		var list struct {
			Data   []struct{ ID string }
			Models []struct{ Name string }
		}
		if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		var names []string
		for _, m := range list.Data {
			names = append(names, m.ID)
		}
		for _, m := range list.Models {
			names = append(names, m.Name)
		}
		if want := []string{"engine/qwen2:tiny", "mock/default"}; !slices.Equal(names, want) {
			t.Errorf("%s: %v, want %v", path, names, want)
		}
	}
}
