package template

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// chunks cuts text into deltas of n bytes, so that tags fall across them.
func chunks(text string, n int) []stream.Event {
	var evs []stream.Event
	for len(text) > n {
		evs = append(evs, stream.Delta(text[:n]))
		text = text[n:]
	}
	return append(evs, stream.Delta(text))
}

// formatSrc is a template source that teaches each format.
var formatSrc = map[string]string{
	"hermes": hermesOpen, "mistral": mistralOpen, "deepseek": dsCallOpen, "command-r7b": actionOpen,
	"firefunction": fireOpen, "functionary": functionOpen, "llama3": `"parameters" ipython`,
}

// formatNamed returns a template whose tool-call format is name's.
func formatNamed(t testing.TB, name string) *Template {
	t.Helper()
	tm := &Template{src: formatSrc[name]}
	if tm.ToolFormat() != name {
		t.Fatalf("no format %s", name)
	}
	return tm
}

// The formats the shared templates teach: each is found in its own
// template, and templates without one get none.
func TestToolFormatOfTemplates(t *testing.T) {
	dir := templatesDir(t)
	want := map[string]string{
		"CohereForAI-c4ai-command-r-plus-tool_use":      "", // Action: ```json, not read yet
		"CohereForAI-c4ai-command-r7b-12-2024-tool_use": "command-r7b",
		"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use": "hermes",
		"NousResearch-Hermes-3-Llama-3.1-8B-tool_use":   "hermes",
		"Qwen-Qwen2.5-7B-Instruct":                      "hermes",
		"deepseek-ai-DeepSeek-R1-Distill-Llama-8B":      "deepseek",
		"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B":      "deepseek",
		"fireworks-ai-llama-3-firefunction-v2":          "firefunction",
		"google-gemma-2-2b-it":                          "",
		"llama-cpp-deepseek-r1":                         "deepseek",
		"meetkai-functionary-medium-v3.1":               "functionary",
		"meetkai-functionary-medium-v3.2":               "", // >>>name, not read yet
		"meta-llama-Llama-3.1-8B-Instruct":              "llama3",
		"meta-llama-Llama-3.2-3B-Instruct":              "llama3",
		"meta-llama-Llama-3.3-70B-Instruct":             "llama3",
		"microsoft-Phi-3.5-mini-instruct":               "",
		"mistralai-Mistral-Nemo-Instruct-2407":          "mistral",
	}
	for name, f := range want {
		src, err := os.ReadFile(filepath.Join(dir, name+".jinja"))
		if err != nil {
			t.Fatal(err)
		}
		tm, err := Parse(string(src), "<s>", "</s>")
		if err != nil {
			t.Fatal(err)
		}
		if got := tm.ToolFormat(); got != f {
			t.Errorf("%s: format %q, want %q", name, got, f)
		}
	}
}

// Each format's calls, as its models write them, become tool-call events
// however the output is cut into deltas; the text around them stays.
func TestToolCallFormats(t *testing.T) {
	weather := stream.ToolCall{ID: "call_0", Name: "get_weather", Arguments: `{"city": "Paris"}`}
	now := stream.ToolCall{ID: "call_1", Name: "now", Arguments: `{"tz": "UTC"}`}
	for _, c := range []struct {
		format, out, text string
		calls             []stream.ToolCall
	}{
		{"hermes", "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n" +
			"<tool_call>\n{\"name\": \"now\", \"arguments\": \"{\\\"tz\\\": \\\"UTC\\\"}\"}\n</tool_call>", "Let me check.\n", []stream.ToolCall{weather, now}},
		{"mistral", `[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1b2c3d4e"}, {"name": "now", "arguments": {"tz": "UTC"}}]`,
			"", []stream.ToolCall{{ID: "a1b2c3d4e", Name: "get_weather", Arguments: `{"city": "Paris"}`}, now}},
		{"llama3", `{"name": "get_weather", "parameters": {"city": "Paris"}}`, "", []stream.ToolCall{weather}},
		{"llama3", "\n <|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", []stream.ToolCall{weather}},
		{"deepseek", "I'll look.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n" +
			"<｜tool▁call▁begin｜>function<｜tool▁sep｜>now\n```json\n{\"tz\": \"UTC\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>", "I'll look.", []stream.ToolCall{weather, now}},
		{"command-r7b", `<|START_THINKING|>Weather.<|END_THINKING|><|START_ACTION|>[{"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}}]<|END_ACTION|>`,
			"<|START_THINKING|>Weather.<|END_THINKING|>", []stream.ToolCall{{ID: "0", Name: "get_weather", Arguments: `{"city": "Paris"}`}}},
		{"firefunction", ` functools[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "now", "arguments": {"tz": "UTC"}}]`, "", []stream.ToolCall{weather, now}},
		{"functionary", `Sure. <function=get_weather>{"city": "Paris"}</function><function=now>{"tz": "UTC"}</function>`, "Sure. ", []stream.ToolCall{weather, now}},
	} {
		tm := formatNamed(t, c.format)
		for n := 1; n <= len(c.out); n += 2 {
			evs := append(chunks(c.out, n), stream.UsageEvent(stream.Usage{CompletionTokens: 7}), stream.Finished(stream.FinishStop))
			res := stream.Collect(tm.ToolCalls(stream.Slice(evs...)))
			if res.Err != nil || res.Text != c.text || !reflect.DeepEqual(res.ToolCalls, c.calls) || res.Finish != stream.FinishToolCalls || res.Usage.CompletionTokens != 7 {
				t.Fatalf("%s in chunks of %d: %+v", c.format, n, res)
			}
		}
	}
}

// What is not a call in the template's format passes as text, whole: a
// broken or unclosed block, another format's markers (the format is the
// template's, never guessed from the output), and a Llama answer that
// does not begin with a call.
func TestToolCallsPassText(t *testing.T) {
	for _, c := range []struct{ format, out string }{
		{"hermes", "no calls, a < b and <tool"},
		{"hermes", "<tool_call>not json</tool_call> after"},
		{"hermes", "cut <tool_call>{\"name\": \"f\""},
		{"hermes", `[TOOL_CALLS][{"name": "f", "arguments": {}}]`},
		{"mistral", `<tool_call>{"name": "f", "arguments": {}}</tool_call>`},
		{"mistral", `[TOOL_CALLS][{"name": "f", "arguments": {}}`},
		{"llama3", `The call is {"name": "f", "parameters": {}}`},
		{"llama3", `{"no": "name"}`},
		{"llama3", "  <|python_tag|>brave_search.call(query=\"x\")"},
		{"deepseek", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\nnot json<｜tool▁call▁end｜><｜tool▁calls▁end｜>"},
		{"functionary", "<function=f>{\"a\": 1}"},
		{"firefunction", "functools are handy"},
	} {
		tm := formatNamed(t, c.format)
		for n := 1; n <= len(c.out); n += 3 {
			res := stream.Collect(tm.ToolCalls(stream.Slice(append(chunks(c.out, n), stream.Finished(stream.FinishStop))...)))
			if res.Err != nil || res.Text != c.out || len(res.ToolCalls) != 0 || res.Finish != stream.FinishStop {
				t.Errorf("%s %q in chunks of %d: %+v", c.format, c.out, n, res)
			}
		}
	}
	// Thinking deltas pass untouched.
	res := stream.Collect(formatNamed(t, "hermes").ToolCalls(stream.Slice(stream.ThinkingDelta("<tool_call>x"), stream.Finished(stream.FinishStop))))
	if res.Thinking != "<tool_call>x" || strings.Contains(res.Text, "x") {
		t.Fatalf("%+v", res)
	}
	// A template without a format leaves the stream alone.
	plain := &Template{src: "{{ messages }}"}
	if res := stream.Collect(plain.ToolCalls(stream.Slice(stream.Delta(`<tool_call>{"name": "f"}</tool_call>`), stream.Finished(stream.FinishStop)))); len(res.ToolCalls) != 0 {
		t.Fatalf("%+v", res)
	}
}

// FuzzToolCalls feeds any output, cut anywhere, to every format: no
// panic; without calls the text comes back unchanged; each call's
// arguments are a JSON object.
func FuzzToolCalls(f *testing.F) {
	f.Add("<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", 3)
	f.Add(`[TOOL_CALLS][{"name": "f", "arguments": {"a": [1]}}]`, 5)
	f.Add("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>", 7)
	f.Add(` <|python_tag|>{"name": "f", "parameters": {}}`, 2)
	f.Add(`<function=f>{}</function> functools[{"name":"g","arguments":{}}]<|START_ACTION|>[]<|END_ACTION|>`, 1)
	f.Fuzz(func(t *testing.T, out string, n int) {
		n = 1 + abs(n)%16
		for _, tf := range toolFormats {
			tm := formatNamed(t, tf.format.name)
			res := stream.Collect(tm.ToolCalls(stream.Slice(append(chunks(out, n), stream.Finished(stream.FinishStop))...)))
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if len(res.ToolCalls) == 0 && res.Text != out {
				t.Fatalf("%s: %q became %q", tf.format.name, out, res.Text)
			}
			for _, c := range res.ToolCalls {
				if !json.Valid([]byte(c.Arguments)) || !strings.HasPrefix(strings.TrimSpace(c.Arguments), "{") || c.Name == "" {
					t.Fatalf("%s: %q gave call %+v", tf.format.name, out, c)
				}
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
