package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/runnel/runnel/stream"
)

// A toolFormat is how a family of chat templates teaches its models to
// write tool calls: a block of text from open to close (to the end of the
// output when close is ""), which parse turns into calls.
type toolFormat struct {
	name string
	// opens are the texts that start a block (usually one).
	opens []string
	close string
	// atStart: a block may only begin the output, after white space
	// (Llama 3's bare JSON); anywhere else the text is the answer.
	atStart bool
	// parse reads a whole block, its opening text included and its close
	// left out; false if it is not calls.
	parse func(block string) ([]toolCall, bool)
}

type toolCall struct {
	id, name string
	args     json.RawMessage
}

// Markers of the formats, as the templates write them.
const (
	hermesOpen, hermesClose = "<tool_call>", "</tool_call>"
	mistralOpen             = "[TOOL_CALLS]"
	pythonTag               = "<|python_tag|>"
	fireOpen                = "functools"
	actionOpen, actionClose = "<|START_ACTION|>", "<|END_ACTION|>"
	functionOpen, funcClose = "<function=", "</function>"
	dsCallsOpen, dsClose    = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
	dsCallOpen, dsCallClose = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>"
	dsSep                   = "<｜tool▁sep｜>"
)

// toolFormats, in the order a template is checked for them: each is
// recognised by the text its template writes to teach it or to replay
// earlier calls (llama.cpp's common/chat.cpp tells them apart the same
// way). Hermes comes first: its templates mention "parameters" too.
var toolFormats = []struct {
	in     func(src string) bool
	format toolFormat
}{
	{has(hermesOpen), toolFormat{name: "hermes", opens: []string{hermesOpen}, close: hermesClose, parse: oneCall(hermesOpen)}},
	{has(mistralOpen), toolFormat{name: "mistral", opens: []string{mistralOpen}, parse: callList(mistralOpen, "name", "arguments")}},
	{has(dsCallOpen), toolFormat{name: "deepseek", opens: []string{dsCallsOpen}, close: dsClose, parse: deepseekCalls}},
	{has(actionOpen), toolFormat{name: "command-r7b", opens: []string{actionOpen}, close: actionClose, parse: callList(actionOpen, "tool_name", "parameters")}},
	{has(fireOpen), toolFormat{name: "firefunction", opens: []string{" " + fireOpen, fireOpen}, parse: callList(fireOpen, "name", "arguments")}},
	{has(functionOpen), toolFormat{name: "functionary", opens: []string{functionOpen}, close: funcClose, parse: functionCall}},
	// Llama 3.1–3.3: a JSON {"name", "parameters"} as the whole answer,
	// bare or after <|python_tag|>; their templates name the ipython role.
	{func(src string) bool {
		return strings.Contains(src, `"parameters"`) && strings.Contains(src, "ipython")
	},
		toolFormat{name: "llama3", opens: []string{pythonTag, "{"}, atStart: true, parse: oneCall(pythonTag)}},
}

func has(marker string) func(string) bool {
	return func(src string) bool { return strings.Contains(src, marker) }
}

// toolFormat returns the format the template teaches, or nil.
func (t *Template) toolFormat() *toolFormat {
	for i := range toolFormats {
		if toolFormats[i].in(t.src) {
			return &toolFormats[i].format
		}
	}
	return nil
}

// WritesToolCalls reports whether the template teaches its models a
// tool-call format that ToolCalls reads.
func (t *Template) WritesToolCalls() bool { return t.toolFormat() != nil }

// ToolFormat names the template's tool-call format ("" for none).
func (t *Template) ToolFormat() string {
	if f := t.toolFormat(); f != nil {
		return f.name
	}
	return ""
}

// ToolMarkers returns the texts that open and close the template's tool
// calls. Some vocabularies make them control tokens, which decode to
// nothing unless shown (tokenizer's ShowControl).
func (t *Template) ToolMarkers() []string {
	f := t.toolFormat()
	if f == nil {
		return nil
	}
	m := append([]string{f.close}, f.opens...)
	if f.name == "deepseek" {
		m = append(m, dsCallOpen, dsCallClose, dsSep)
	}
	return m
}

// Thinks reports whether the template's models write their reasoning in
// <think> tags.
func (t *Template) Thinks() bool { return strings.Contains(t.src, "<think>") }

// ToolCalls returns a stream that turns the tool calls in in's output,
// written in the template's format, into tool-call events in OpenAI's
// shape (one event per call, with the model's id or call_N), and ends
// with FinishToolCalls when a call was made. It returns in itself for a
// template without a tool-call format. The format is the template's,
// never guessed from the output.
func (t *Template) ToolCalls(in stream.Stream) stream.Stream {
	f := t.toolFormat()
	if f == nil {
		return in
	}
	return &toolStream{in: in, f: f, deciding: f.atStart}
}

// toolStream finds the format's blocks in the output deltas. A marker may
// be cut across tokens: only a tail that could start the awaited marker
// is held back. A block that is not calls, or that never closes, is
// passed on as text.
type toolStream struct {
	in       stream.Stream
	f        *toolFormat
	deciding bool // atStart: the output so far is white space
	off      bool // atStart: the output began with text; no calls
	inside   bool
	pending  string          // held-back possible marker prefix
	block    strings.Builder // the current block's text
	calls    int
	out      []stream.Event
	err      error
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
	if t.deciding {
		t.decide(text)
		return
	}
	for text != "" {
		switch {
		case t.off:
			t.take(text)
			return
		case t.inside && t.f.close == "":
			t.block.WriteString(text)
			return
		case t.inside:
			if i := strings.Index(text, t.f.close); i >= 0 {
				t.block.WriteString(text[:i])
				t.inside = false
				t.end()
				text = text[i+len(t.f.close):]
				continue
			}
			h := tagPrefix(text, t.f.close)
			t.block.WriteString(text[:len(text)-h])
			t.pending = text[len(text)-h:]
			return
		}
		i, open := firstOpen(text, t.f.opens)
		if i >= 0 {
			t.take(text[:i])
			t.inside = true
			t.block.WriteString(open)
			text = text[i+len(open):]
			continue
		}
		h := 0
		for _, o := range t.f.opens {
			h = max(h, tagPrefix(text, o))
		}
		t.take(text[:len(text)-h])
		t.pending = text[len(text)-h:]
		return
	}
}

// decide waits, for an atStart format, until the output shows whether
// it begins with a block.
func (t *toolStream) decide(text string) {
	rest := strings.TrimLeft(text, " \t\r\n")
	if rest == "" {
		t.pending = text
		return
	}
	for _, o := range t.f.opens {
		if strings.HasPrefix(rest, o) {
			// atStart formats run to the end of the output (no close).
			t.deciding, t.inside = false, true
			t.block.WriteString(text) // parse trims the white space
			return
		}
		if strings.HasPrefix(o, rest) {
			t.pending = text
			return
		}
	}
	t.deciding, t.off = false, true
	t.take(text)
}

func firstOpen(text string, opens []string) (int, string) {
	at, open := -1, ""
	for _, o := range opens {
		if i := strings.Index(text, o); i >= 0 && (at < 0 || i < at) {
			at, open = i, o
		}
	}
	return at, open
}

// take passes text on as output; after a call, white space between
// calls is dropped.
func (t *toolStream) take(text string) {
	switch {
	case text == "":
	case t.calls > 0 && strings.TrimSpace(text) == "":
	default:
		t.out = append(t.out, stream.Delta(text))
	}
}

// end turns the finished block into tool-call events, or back into text.
func (t *toolStream) end() {
	raw := t.block.String()
	t.block.Reset()
	calls, ok := t.f.parse(raw)
	if !ok || len(calls) == 0 {
		t.take(raw + t.f.close)
		return
	}
	for _, c := range calls {
		id := c.id
		if id == "" {
			id = fmt.Sprintf("call_%d", t.calls)
		}
		t.out = append(t.out, stream.Event{Kind: stream.KindToolCall, ToolCall: &stream.ToolCallDelta{
			Index: t.calls, ID: id, Name: c.name, Arguments: string(c.args),
		}})
		t.calls++
	}
}

// flush passes on what was held back at the end of the output: a block
// that runs to the end is parsed; one whose close never came is text.
func (t *toolStream) flush() {
	p := t.pending
	t.pending = ""
	switch {
	case t.deciding:
		t.deciding = false
		t.take(p)
	case t.inside && t.f.close == "":
		t.inside = false
		t.end()
	case t.inside:
		t.inside = false
		t.take(t.block.String() + p)
		t.block.Reset()
	default:
		t.take(p)
	}
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

// Parsers of the formats' blocks.

// oneCall reads one JSON object {"name", "arguments" or "parameters"}
// after the marker.
func oneCall(marker string) func(string) ([]toolCall, bool) {
	return func(block string) ([]toolCall, bool) {
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(block), marker))), &obj) != nil {
			return nil, false
		}
		c, ok := callOf(obj, "name", "arguments", "parameters")
		return []toolCall{c}, ok
	}
}

// callList reads a JSON array of calls after the marker, each with its
// name and arguments under the given keys.
func callList(marker, nameKey, argsKey string) func(string) ([]toolCall, bool) {
	return func(block string) ([]toolCall, bool) {
		var list []map[string]json.RawMessage
		if json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(block), marker))), &list) != nil {
			return nil, false
		}
		calls := make([]toolCall, 0, len(list))
		for _, obj := range list {
			c, ok := callOf(obj, nameKey, argsKey)
			if !ok {
				return nil, false
			}
			calls = append(calls, c)
		}
		return calls, true
	}
}

// callOf reads a call object: its name, its arguments (under the first
// of argsKeys present, an object or a JSON string holding one) and its
// id if it has one.
func callOf(obj map[string]json.RawMessage, nameKey string, argsKeys ...string) (toolCall, bool) {
	var c toolCall
	if json.Unmarshal(obj[nameKey], &c.name) != nil || c.name == "" {
		return c, false
	}
	for _, k := range argsKeys {
		if a, ok := obj[k]; ok {
			c.args = a
			break
		}
	}
	var s string
	if json.Unmarshal(c.args, &s) == nil { // arguments written as a JSON string
		c.args = json.RawMessage(s)
	}
	if c.args == nil || string(c.args) == "null" {
		c.args = json.RawMessage("{}")
	}
	if !json.Valid(c.args) || bytes.TrimSpace(c.args)[0] != '{' {
		return c, false
	}
	for _, k := range []string{"id", "tool_call_id"} {
		json.Unmarshal(obj[k], &c.id)
	}
	return c, true
}

// deepseekCalls reads DeepSeek's calls:
// <｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
// one after another.
func deepseekCalls(block string) ([]toolCall, bool) {
	rest := strings.TrimSpace(strings.TrimPrefix(block, dsCallsOpen))
	var calls []toolCall
	for rest != "" {
		body, ok := strings.CutPrefix(rest, dsCallOpen)
		if !ok {
			return nil, false
		}
		body, after, ok := strings.Cut(body, dsCallClose)
		if !ok {
			return nil, false
		}
		_, body, ok = strings.Cut(body, dsSep)
		if !ok {
			return nil, false
		}
		name, args, _ := strings.Cut(body, "\n")
		args = strings.TrimSpace(args)
		args = strings.TrimPrefix(args, "```json")
		args = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(args), "```"))
		c, ok := callOf(map[string]json.RawMessage{"name": jsonString(strings.TrimSpace(name)), "arguments": json.RawMessage(args)}, "name", "arguments")
		if !ok {
			return nil, false
		}
		calls = append(calls, c)
		rest = strings.TrimSpace(after)
	}
	return calls, true
}

// functionCall reads functionary's <function=NAME>{ARGS}.
func functionCall(block string) ([]toolCall, bool) {
	name, args, ok := strings.Cut(strings.TrimPrefix(block, functionOpen), ">")
	if !ok {
		return nil, false
	}
	c, ok := callOf(map[string]json.RawMessage{"name": jsonString(name), "arguments": json.RawMessage(strings.TrimSpace(args))}, "name", "arguments")
	return []toolCall{c}, ok
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
