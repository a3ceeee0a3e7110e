package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel/runnel/client"
	"github.com/runnel/runnel/engine/synth"
	"github.com/runnel/runnel/engine/template"
	"github.com/runnel/runnel/engine/tokenizer"
	"github.com/runnel/runnel/internal/testmodels"
	"github.com/runnel/runnel/stream"
)

// archTemplates gives each synthetic model a real chat template from
// ../shared/testdata/templates (phi-3's vocabulary brings its own). Granite
// and OLMo have none there; they get chatML.
var archTemplates = map[string]string{
	"llama": "meta-llama-Llama-3.1-8B-Instruct", "llama-headdim": "mistralai-Mistral-Nemo-Instruct-2407",
	"qwen2": "Qwen-Qwen2.5-7B-Instruct", "qwen3": "Qwen-Qwen2.5-7B-Instruct", "qwen3moe": "Qwen-Qwen2.5-7B-Instruct",
	"gemma2": "google-gemma-2-2b-it", "gemma3": "google-gemma-2-2b-it",
}

const chatML = `{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}` +
	`{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}`

// TestServeEveryArchitecture streams a chat through `runnel serve`'s
// /v1/chat/completions from a synthetic model of every architecture, with
// a real vocabulary and chat template: the prompt is the rendered template
// (its token count proves it), and a greedy generation stops at the token
// the file declares as end of turn, before writing it.
func TestServeEveryArchitecture(t *testing.T) {
	shared := filepath.Join(filepath.Dir(testmodels.Dir(t)), "testdata")
	if _, err := os.Stat(filepath.Join(shared, "vocab")); err != nil {
		t.Skipf("%s absent", shared)
	}
	dir := t.TempDir()
	cl := client.New(serveTest(t, accountOptions{}, map[string]string{"RUNNEL_MODELS": dir}).URL)
	msgs := []stream.Message{{Role: "user", Content: "Hi, who are you?"}}
	ask := func(t *testing.T, model string, maxTokens int) ([]string, *client.Stream) {
		t.Helper()
		s := cl.StreamChat(context.Background(), client.ChatRequest{Model: "engine/" + model, MaxTokens: maxTokens,
			Temperature: new(0.0), Messages: []client.Message{{Role: msgs[0].Role, Content: msgs[0].Content}}})
		var deltas []string
		for ev, err := range s.Events() {
			if err != nil {
				t.Fatalf("%s: %v", model, err)
			}
			if ev.Text != "" {
				deltas = append(deltas, ev.Text)
			}
		}
		return deltas, s
	}
	for _, spec := range synth.Specs {
		t.Run(spec.Name, func(t *testing.T) {
			path := writeArchModel(t, dir, spec.Name, spec, shared, nil)
			tmpl, tok, err := template.Open(path)
			if err != nil || tmpl == nil {
				t.Fatalf("template: %v", err)
			}
			p, err := tmpl.Render(template.Input{Messages: msgs, AddGenerationPrompt: true, StripBOS: tok.AddBOS()}, template.Specials(tok))
			if err != nil {
				t.Fatal(err)
			}
			want := len(tok.EncodePrompt(p.Text, p.Plain, tok.AddBOS()))
			if tok.AddEOS() {
				want++
			}
			deltas, s := ask(t, spec.Name, 8)
			if u := s.Usage(); u == nil || u.PromptTokens != want || u.CompletionTokens != 8 || s.FinishReason() != "length" {
				t.Fatalf("usage %+v finish %q, want %d prompt tokens (the template's), 8 generated, length", u, s.FinishReason(), want)
			}
			// Declare the token behind a later delta the end of turn: the
			// same greedy run stops just before it.
			k, id := eotCandidate(tok, deltas)
			if k < 0 {
				t.Fatalf("no delta of %q is one token's unique text", deltas)
			}
			writeArchModel(t, dir, spec.Name+"-eot", spec, shared, map[string]any{"tokenizer.ggml.eot_token_id": uint32(id)})
			got, s := ask(t, spec.Name+"-eot", 8)
			if strings.Join(got, "") != strings.Join(deltas[:k], "") || s.FinishReason() != "stop" {
				t.Fatalf("with end of turn %d (%q): %q, finish %q; want %q, stop", id, deltas[k], got, s.FinishReason(), deltas[:k])
			}
		})
	}
}

// writeArchModel writes spec's synthetic model with its vocabulary, its
// chat template and the extra metadata keys as dir/name.gguf.
func writeArchModel(t *testing.T, dir, name string, spec synth.Spec, shared string, extra map[string]any) string {
	t.Helper()
	w, err := synth.GGUF(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.AddVocab(w, spec, filepath.Join(shared, "vocab", "ggml-vocab-"+spec.Vocab+".gguf")); err != nil {
		t.Fatal(err)
	}
	if src, ok := archTemplates[spec.Name]; ok {
		b, err := os.ReadFile(filepath.Join(shared, "templates", src+".jinja"))
		if err != nil {
			t.Fatal(err)
		}
		extra = mapWith(extra, "tokenizer.chat_template", string(b))
	} else if spec.Vocab != "phi-3" {
		extra = mapWith(extra, "tokenizer.chat_template", chatML)
	}
	for k, v := range extra {
		if err := w.Add(k, v); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name+".gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func mapWith(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for mk, mv := range m {
		out[mk] = mv
	}
	return out
}

// eotCandidate finds a delta after the first whose text only one
// token of the vocabulary writes, and returns its index and that token.
func eotCandidate(tok tokenizer.Tokenizer, deltas []string) (int, int) {
	prev := tok.Encode("a", false)
	if len(prev) == 0 {
		return -1, 0
	}
	a := prev[len(prev)-1]
	pieces := map[string][]int{}
	for id := range tok.VocabSize() {
		if tok.IsEOG(id) || id == tok.BOS() {
			continue
		}
		p := tok.Piece(a, id)
		pieces[p] = append(pieces[p], id)
	}
	for k := 1; k < len(deltas); k++ {
		if ids := pieces[deltas[k]]; len(ids) == 1 && !strings.Contains(strings.Join(deltas[:k], ""), deltas[k]) {
			return k, ids[0]
		}
	}
	return -1, 0
}
