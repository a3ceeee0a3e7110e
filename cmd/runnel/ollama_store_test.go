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

	status, body := do(t, "GET", ts.URL+"/v1/models", "", "")
	var oa struct{ Data []struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &oa); status != 200 || err != nil {
		t.Fatalf("/v1/models: %d %s", status, body)
	}
	var ids []string
	for _, m := range oa.Data {
		ids = append(ids, m.ID)
	}
	if want := []string{"engine/qwen2:tiny", "mock/default"}; !slices.Equal(ids, want) {
		t.Errorf("/v1/models: %v, want %v", ids, want)
	}

	status, body = do(t, "GET", ts.URL+"/api/tags", "", "")
	var ol struct {
		Models []struct{ Name, Model string }
	}
	if err := json.Unmarshal([]byte(body), &ol); status != 200 || err != nil {
		t.Fatalf("/api/tags: %d %s", status, body)
	}
	var names []string
	for _, m := range ol.Models {
		names = append(names, m.Name)
	}
	if want := []string{"engine/qwen2:tiny", "mock/default"}; !slices.Equal(names, want) {
		t.Errorf("/api/tags: %v, want %v", names, want)
	}
}
