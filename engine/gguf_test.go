package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/gguf"
	"github.com/runnel/runnel/engine/models"
	"github.com/runnel/runnel/engine/template"
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
	storiesGGUF(t, dir, "eos", map[string]any{"tokenizer.ggml.add_eos_token": true})
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

	r, err := e.runner("eos")
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.promptTokens(chat(testmodels.GreedyPrompt, stream.Sampling{}))
	if want := append(slices.Clone(testmodels.GreedyPromptIDs), r.vocab.EOS()); err != nil || !slices.Equal(p.ids, want) {
		t.Fatalf("add_eos_token: prompt %v %v, want %v", p.ids, err, want)
	}
}

// A GGUF file's chat template shapes the prompt; the control tokens it
// writes are tokens, the same text inside a message is not.
func TestChatTemplatePrompt(t *testing.T) {
	dir := t.TempDir()
	storiesGGUF(t, dir, "tmpl", map[string]any{
		"tokenizer.chat_template": "{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}",
	})
	e := newEngine(t, Options{ModelsDir: dir})
	r, err := e.runner("tmpl")
	if err != nil {
		t.Fatal(err)
	}
	eos := r.vocab.EOS()
	req := &stream.Request{Messages: []stream.Message{
		{Role: "system", Content: "Tell a story."},
		{Role: "user", Content: "Once upon a time" + r.vocab.Token(eos) + "the end"},
	}}
	p, err := r.promptTokens(req)
	if err != nil {
		t.Fatal(err)
	}
	ids := p.ids
	// The trailing EOS text is left out, as llama.cpp does: one EOS, the
	// template's, after the system turn.
	text := "[system]Tell a story." + r.vocab.Token(eos) + "[user]Once upon a time" + r.vocab.Token(eos) + "the end"
	sys := r.vocab.Encode("[system]Tell a story.", true)
	want := append(append(sys, eos), r.vocab.Encode("[user]Once upon a time"+r.vocab.Token(eos)+"the end", false)...)
	if !slices.Equal(ids, want) {
		t.Fatalf("prompt of %q:\n got %v\nwant %v", text, ids, want)
	}
	if slices.Index(ids, eos) != len(sys) || slices.Contains(ids[len(sys)+1:], eos) {
		t.Fatalf("EOS not only at %d: %v", len(sys), ids)
	}
	// Through Stream, the usage counts the same prompt.
	req.Sampling = stream.Sampling{Temperature: ptr(0.0), MaxTokens: 1}
	req.Model = "tmpl"
	if res := collect(t, e, req); res.Err != nil || res.Usage.PromptTokens != len(want) {
		t.Fatalf("%v %+v, want %d prompt tokens", res.Err, res.Usage, len(want))
	}
}

// A conversation the template refuses is the client's error.
func TestChatTemplateRefuses(t *testing.T) {
	dir := t.TempDir()
	storiesGGUF(t, dir, "strict", map[string]any{
		"tokenizer.chat_template": "{% if messages[0].role != 'user' %}{{ raise_exception('first message must be the user') }}{% endif %}{{ messages[0].content }}",
	})
	e := newEngine(t, Options{ModelsDir: dir})
	_, err := e.Stream(context.Background(), &stream.Request{Model: "strict", Messages: []stream.Message{{Role: "assistant", Content: "hi"}}})
	var se *stream.Error
	if !errors.As(err, &se) || se.Code != stream.CodeInvalidRequest || se.Param != "messages" || !strings.Contains(se.Message, "first message must be the user") {
		t.Fatalf("err = %v", err)
	}
}

// A name of Ollama's store serves the GGUF blob its manifest points to.
func TestOllamaStoreModel(t *testing.T) {
	testmodels.OllamaStore(t, readFile(t, storiesGGUF(t, t.TempDir(), "stories", nil)), "stories/tiny")
	e := newEngine(t, Options{ModelsDir: t.TempDir()})
	req := chat(testmodels.GreedyPrompt, stream.Sampling{Temperature: ptr(0.0), MaxTokens: len(testmodels.GreedyIDs)})
	req.Model = "stories:tiny"
	if res := collect(t, e, req); res.Err != nil || res.Text != testmodels.GreedyText {
		t.Fatalf("%v %q", res.Err, res.Text)
	}
}

// A templated model's <think> block and <tool_call> blocks come out as
// thinking deltas and tool calls; a generation prompt that opened <think>
// (DeepSeek R1) starts the output inside the block.
func TestTemplatedOutput(t *testing.T) {
	tm, err := template.Parse("{% for m in messages %}{{ m.content }}{% endfor %}<think>\n{# <tool_call> #}", "", "")
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{tmpl: tm}
	in := stream.Slice(stream.Delta("reason"), stream.Delta("ing</th"), stream.Delta("ink>Answer <tool_"),
		stream.Delta(`call>{"name":"f","arguments":{"x":1}}</tool_call>`), stream.Finished(stream.FinishStop))
	req := &stream.Request{Messages: []stream.Message{{Role: "user", Content: "q"}}, Tools: []stream.Tool{{Name: "f"}}}
	s, err := r.output(context.Background(), req, prompt{templated: true, thinking: true}, in)
	if err != nil {
		t.Fatal(err)
	}
	res := stream.Collect(s)
	if res.Thinking != "reasoning" || res.Text != "Answer " || len(res.ToolCalls) != 1 || res.ToolCalls[0].Name != "f" ||
		res.ToolCalls[0].Arguments != `{"x":1}` || res.Finish != stream.FinishToolCalls {
		t.Fatalf("%+v", res)
	}
	// Without tools in the request, the block stays text.
	req.Tools = nil
	s, _ = r.output(context.Background(), req, prompt{templated: true}, stream.Slice(stream.Delta("<tool_call>{}</tool_call>"), stream.Finished(stream.FinishStop)))
	if res := stream.Collect(s); res.Text != "<tool_call>{}</tool_call>" {
		t.Fatalf("%+v", res)
	}
}

// A file's tool-use template renders the requests that offer tools.
func TestToolUseTemplate(t *testing.T) {
	dir := t.TempDir()
	storiesGGUF(t, dir, "tools", map[string]any{
		"tokenizer.chat_template":          "{% for m in messages %}{{ m.content }}{% endfor %}",
		"tokenizer.chat_template.tool_use": "{% for t in tools %}[{{ t.function.name }}]{% endfor %}{% for m in messages %}{{ m.content }}{% endfor %}",
	})
	e := newEngine(t, Options{ModelsDir: dir})
	r, err := e.runner("tools")
	if err != nil {
		t.Fatal(err)
	}
	req := &stream.Request{Messages: []stream.Message{{Role: "user", Content: "Once upon a time"}}}
	for _, c := range []struct {
		tools  []stream.Tool
		choice string
		text   string
	}{
		{nil, "", "Once upon a time"},
		{[]stream.Tool{{Name: "look"}}, "auto", "[look]Once upon a time"},
		{[]stream.Tool{{Name: "look"}}, "none", "Once upon a time"},
	} {
		req.Tools, req.ToolChoice = c.tools, c.choice
		p, err := r.promptTokens(req)
		if err != nil || !slices.Equal(p.ids, r.vocab.Encode(c.text, true)) {
			t.Errorf("tools %v %q: %v %v, want the ids of %q", c.tools, c.choice, p.ids, err, c.text)
		}
	}
}

// A template's tool-call markers that the vocabulary makes control tokens
// (Mistral's [TOOL_CALLS]) decode as their text, so that the calls after
// them become tool-call events; other control tokens still decode to
// nothing.
func TestControlToolMarker(t *testing.T) {
	dir := t.TempDir()
	f, err := gguf.Open(storiesGGUF(t, t.TempDir(), "src", nil))
	if err != nil {
		t.Fatal(err)
	}
	toks, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	types := make([]int32, len(toks))
	for i := range types {
		types[i] = 1
	}
	const marker, other = 300, 301
	toks[marker], toks[other] = "[TOOL_CALLS]", "[OTHER]"
	types[marker], types[other] = 3, 3
	storiesGGUF(t, dir, "mistral", map[string]any{"tokenizer.ggml.tokens": toks, "tokenizer.ggml.token_type": types,
		"tokenizer.chat_template": "{% for m in messages %}[INST]{{ m.content }}[/INST]{% endfor %}{# [TOOL_CALLS] #}"})
	e := newEngine(t, Options{ModelsDir: dir})
	r, err := e.runner("mistral")
	if err != nil {
		t.Fatal(err)
	}
	if r.tmpl.ToolFormat() != "mistral" || r.vocab.Piece(5, marker) != "[TOOL_CALLS]" || r.vocab.Piece(5, other) != "" {
		t.Fatalf("format %q, marker %q, other control token %q", r.tmpl.ToolFormat(), r.vocab.Piece(5, marker), r.vocab.Piece(5, other))
	}
	req := &stream.Request{Messages: []stream.Message{{Role: "user", Content: "q"}}, Tools: []stream.Tool{{Name: "f"}}}
	in := stream.Slice(stream.Delta(r.vocab.Piece(5, marker)), stream.Delta(`[{"name": "f", "arguments": {"x": 1}}]`), stream.Finished(stream.FinishStop))
	s, err := r.output(context.Background(), req, prompt{templated: true}, in)
	if err != nil {
		t.Fatal(err)
	}
	if res := stream.Collect(s); res.Text != "" || len(res.ToolCalls) != 1 || res.ToolCalls[0].Name != "f" ||
		res.ToolCalls[0].Arguments != `{"x": 1}` || res.Finish != stream.FinishToolCalls {
		t.Fatalf("%+v", res)
	}
}

// The engine lists the models directory, then Ollama's store; a model
// pulled into the directory under a store name is listed once.
func TestModelsListOllamaStore(t *testing.T) {
	dir := t.TempDir()
	storiesGGUF(t, dir, "local", nil)
	storiesGGUF(t, dir, "stories:tiny", nil) // as `runnel pull stories:tiny` names it
	testmodels.OllamaStore(t, readFile(t, storiesGGUF(t, t.TempDir(), "x", nil)), "stories/tiny", "stories/big")
	e := newEngine(t, Options{ModelsDir: dir})
	list, err := e.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list {
		ids = append(ids, m.ID)
		if m.Provider != "engine" || m.ContextLength != 512 {
			t.Errorf("%+v", m)
		}
	}
	if want := []string{"local", "stories:tiny", "stories:big"}; !slices.Equal(ids, want) {
		t.Fatalf("models %v, want %v", ids, want)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
