package template

import (
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

func TestToolCalls(t *testing.T) {
	out := "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n" +
		"<tool_call>\n{\"name\": \"now\", \"arguments\": \"{\\\"tz\\\": \\\"UTC\\\"}\"}\n</tool_call>"
	for n := 1; n <= len(out); n += 3 {
		evs := append(chunks(out, n), stream.UsageEvent(stream.Usage{CompletionTokens: 7}), stream.Finished(stream.FinishStop))
		res := stream.Collect(ToolCalls(stream.Slice(evs...)))
		want := []stream.ToolCall{{ID: "call_0", Name: "get_weather", Arguments: `{"city": "Paris"}`}, {ID: "call_1", Name: "now", Arguments: `{"tz": "UTC"}`}}
		if res.Err != nil || res.Text != "Let me check.\n" || !reflect.DeepEqual(res.ToolCalls, want) || res.Finish != stream.FinishToolCalls || res.Usage.CompletionTokens != 7 {
			t.Fatalf("chunks of %d: %+v", n, res)
		}
	}
}

func TestToolCallsPassText(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"no calls, a < b and <tool", "no calls, a < b and <tool"},
		{"<tool_call>not json</tool_call> after", "<tool_call>not json</tool_call> after"},
		{"cut <tool_call>{\"name\": \"f\"", "cut <tool_call>{\"name\": \"f\""},
	} {
		res := stream.Collect(ToolCalls(stream.Slice(append(chunks(c.out, 4), stream.Finished(stream.FinishStop))...)))
		if res.Err != nil || res.Text != c.want || len(res.ToolCalls) != 0 || res.Finish != stream.FinishStop {
			t.Errorf("%q: %+v", c.out, res)
		}
	}
	// Thinking deltas pass untouched.
	res := stream.Collect(ToolCalls(stream.Slice(stream.ThinkingDelta("<tool_call>x"), stream.Finished(stream.FinishStop))))
	if res.Thinking != "<tool_call>x" || strings.Contains(res.Text, "x") {
		t.Fatalf("%+v", res)
	}
}
