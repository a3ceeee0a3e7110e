package template

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/runnel/runnel/stream"
)

// Tags of the tool calls Hermes-style templates (Hermes, Qwen 2.5 and 3)
// teach their models to write: <tool_call>{"name": …, "arguments": …}</tool_call>.
const (
	toolCallOpen  = "<tool_call>"
	toolCallClose = "</tool_call>"
)

// WritesToolCalls reports whether the template's models write tool calls
// in <tool_call> tags.
func (t *Template) WritesToolCalls() bool { return strings.Contains(t.src, toolCallOpen) }

// Thinks reports whether the template's models write their reasoning in
// <think> tags.
func (t *Template) Thinks() bool { return strings.Contains(t.src, "<think>") }

// ToolCalls returns a stream that turns the <tool_call> blocks of in's
// output into tool-call events, in OpenAI's shape (one event per call,
// with ID call_N), and ends with FinishToolCalls when a call was made. A
// tag may be cut across tokens: only a tail that could start the awaited
// tag is held back. A block that is not a JSON call, or that never closes,
// is passed on as text.
func ToolCalls(in stream.Stream) stream.Stream { return &toolStream{in: in} }

type toolStream struct {
	in      stream.Stream
	inside  bool
	pending string          // held-back possible tag prefix
	block   strings.Builder // the current call's text
	calls   int
	out     []stream.Event
	err     error
}

func (t *toolStream) Recv() (stream.Event, error) {
	for {
		if len(t.out) > 0 {
			ev := t.out[0]
			t.out = t.out[1:]
			return ev, nil
		}
		if t.err != nil {
			return stream.Event{}, t.err
		}
		ev, err := t.in.Recv()
		if err != nil {
			t.flush()
			t.err = err
			continue
		}
		if ev.Kind != stream.KindDelta || (ev.Channel != stream.Output && ev.Channel != "") {
			if ev.Kind == stream.KindFinish {
				t.flush()
				if t.calls > 0 && ev.Finish == stream.FinishStop {
					ev.Finish = stream.FinishToolCalls
				}
			}
			t.out = append(t.out, ev)
			continue
		}
		t.feed(t.pending + ev.Text)
	}
}

func (t *toolStream) feed(text string) {
	t.pending = ""
	for text != "" {
		tag := toolCallOpen
		if t.inside {
			tag = toolCallClose
		}
		if i := strings.Index(text, tag); i >= 0 {
			t.take(text[:i])
			if t.inside {
				t.call()
			}
			t.inside = !t.inside
			text = text[i+len(tag):]
			continue
		}
		h := tagPrefix(text, tag)
		t.take(text[:len(text)-h])
		t.pending = text[len(text)-h:]
		return
	}
}

// take adds text to the current block, or passes it on as output; after a
// call, white space between calls is dropped.
func (t *toolStream) take(text string) {
	switch {
	case text == "":
	case t.inside:
		t.block.WriteString(text)
	case t.calls > 0 && strings.TrimSpace(text) == "":
	default:
		t.out = append(t.out, stream.Delta(text))
	}
}

// call turns the finished block into a tool-call event.
func (t *toolStream) call() {
	raw := t.block.String()
	t.block.Reset()
	var c struct {
		Name       string          `json:"name"`
		Arguments  json.RawMessage `json:"arguments"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &c); err != nil || c.Name == "" {
		t.out = append(t.out, stream.Delta(toolCallOpen+raw+toolCallClose))
		return
	}
	args := c.Arguments
	if args == nil {
		args = c.Parameters
	}
	var s string
	if json.Unmarshal(args, &s) == nil { // arguments written as a JSON string
		args = json.RawMessage(s)
	}
	if args == nil {
		args = json.RawMessage("{}")
	}
	t.out = append(t.out, stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{
		Index: t.calls, ID: fmt.Sprintf("call_%d", t.calls), Name: c.Name, Arguments: string(args),
	}})
	t.calls++
}

// flush passes on what was held back: the awaited tag never came.
func (t *toolStream) flush() {
	p := t.pending
	t.pending = ""
	if t.inside {
		t.inside = false
		t.take(toolCallOpen + t.block.String() + p)
		t.block.Reset()
		return
	}
	t.take(p)
}

// tagPrefix returns the length of the longest suffix of text that is a
// proper prefix of tag.
func tagPrefix(text, tag string) int {
	for h := min(len(tag)-1, len(text)); h > 0; h-- {
		if strings.HasPrefix(tag, text[len(text)-h:]) {
			return h
		}
	}
	return 0
}

func (t *toolStream) Close() error { return t.in.Close() }

// Finish forwards to the inner stream; see stream.Finisher.
func (t *toolStream) Finish(r stream.FinishReason) bool { return stream.Finish(t.in, r) }
