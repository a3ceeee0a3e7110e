// Package template renders a conversation into the prompt text a model was
// trained on, with the model's own chat template (GGUF's
// tokenizer.chat_template, a Jinja template), as llama.cpp's server does.
package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"

	"github.com/runnel/runnel/stream"
)

// Template is a compiled chat template. It is safe for concurrent use.
type Template struct {
	src      string
	t        *jinja.Template
	bos, eos string
	// systemRole: the template renders system messages; if not, a system
	// message is put before the next user message, as llama.cpp does for
	// templates such as Gemma's that refuse the role.
	systemRole bool
	// objectArgs: the template renders tool-call arguments only when they
	// are an object (it applies tojson to them); otherwise they are passed
	// as the JSON text the model wrote.
	objectArgs bool
	// userTools: the template reads tools_in_user_message; like llama.cpp,
	// Runnel sets it false, describing tools in the system turn.
	userTools bool
	// functions: the template (Firefunction v2's) takes the tools as
	// indented JSON text in functions, and the time in datetime.
	functions bool
	// toolUse is the file's template for requests with tools, if any.
	toolUse *Template
}

// Parse compiles a chat template. bos and eos are the texts of the
// vocabulary's BOS and EOS tokens ("" if it has none), which templates read
// as bos_token and eos_token.
func Parse(src, bos, eos string) (*Template, error) {
	t, err := jinja.Compile(rewriteIndentedJSON(rewriteAdjacentStrip(src)))
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	tm := &Template{src: src, t: t, bos: bos, eos: eos, userTools: strings.Contains(src, "tools_in_user_message"),
		functions: strings.Contains(src, " functools[")}
	tm.probe()
	return tm, nil
}

// The library's tojson(indent=N) sorts object keys and escapes HTML
// characters, unlike Python's json.dumps (which Hugging Face's templates
// and llama.cpp follow); its compact tojson is right. So a print statement
// whose value is X | tojson(indent=N) is rewritten to indent X | tojson
// with a function of ours. Only plain values and filter chains are
// rewritten, where the filter applies to the whole value.
var (
	indentedJSON = regexp.MustCompile(`\{\{(-?)([^{}]*?)\|\s*tojson\(indent=(\d+)\)([^{}]*?)(-?)\}\}`)
	plainValue   = regexp.MustCompile(`^[\s\w.\[\]'"()=|,]+$`)
)

const indentJSONFunc = "__runnel_indent_json"

// A tag's "-" strips the white space of the text just before it. Where
// another tag ends right before it there is no such text, but the library
// strips back across the earlier tag, into the text before that one. The
// "-" does nothing in Jinja there, so it is dropped.
var adjacentStrip = regexp.MustCompile(`([%}#]\})(\{[{%#])-`)

func rewriteAdjacentStrip(src string) string {
	return adjacentStrip.ReplaceAllString(src, "$1$2")
}

func rewriteIndentedJSON(src string) string {
	return indentedJSON.ReplaceAllStringFunc(src, func(m string) string {
		g := indentedJSON.FindStringSubmatch(m)
		if !plainValue.MatchString(g[2]) {
			return m
		}
		return "{{" + g[1] + " " + indentJSONFunc + "(" + g[2] + "| tojson, " + g[3] + ")" + g[4] + g[5] + "}}"
	})
}

func indentJSON(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 2 || !args[0].IsString() || !args[1].IsInt() {
		return jinja.Undefined(), errors.New("tojson: bad indent")
	}
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(args[0].AsString()), "", strings.Repeat(" ", int(min(max(args[1].AsInt(), 0), 16)))); err != nil {
		return jinja.Undefined(), fmt.Errorf("tojson: %w", err)
	}
	return jinja.NewString(b.String()), nil
}

// probe finds what the template can render, as llama.cpp's minja does:
// whether a system message's text shows, and whether tool-call arguments
// show when they are JSON text or only when they are an object.
func (t *Template) probe() {
	render := func(msgs ...jinja.Value) string {
		out, err := t.t.RenderValues(map[string]jinja.Value{
			"messages":              jinja.NewList(msgs),
			"add_generation_prompt": jinja.NewBool(false),
			"bos_token":             jinja.NewString(t.bos),
			"eos_token":             jinja.NewString(t.eos),
			indentJSONFunc:          jinja.NewCallable(indentJSONFunc, indentJSON),
		})
		if err != nil {
			return ""
		}
		return out
	}
	const needle = "<System Needle>"
	t.systemRole = strings.Contains(render(message("system", needle), message("user", "Hey")), needle)

	call := func(args jinja.Value) jinja.Value {
		fn := jinja.NewDict()
		fn.AsDict().Set("arguments", args)
		fn.AsDict().Set("name", jinja.NewString("ipython"))
		c := jinja.NewDict()
		c.AsDict().Set("id", jinja.NewString("call_1___"))
		c.AsDict().Set("type", jinja.NewString("function"))
		c.AsDict().Set("function", fn)
		m := jinja.NewDict()
		m.AsDict().Set("role", jinja.NewString("assistant"))
		m.AsDict().Set("content", jinja.None())
		m.AsDict().Set("tool_calls", jinja.NewList([]jinja.Value{c}))
		return m
	}
	shows := func(out string) bool {
		return strings.Contains(out, `"argument_needle":`) || strings.Contains(out, "'argument_needle':")
	}
	const argsText = `{"argument_needle":"print('Hello, World!')"}`
	obj, _ := jsonValue([]byte(argsText), newGuard(nil))
	asText := shows(render(message("user", "Hey"), call(jinja.NewString(argsText))))
	asObject := shows(render(message("user", "Hey"), call(obj)))
	t.objectArgs = asObject && !asText
}

func message(role, content string) jinja.Value {
	d := jinja.NewDict()
	d.AsDict().Set("role", jinja.NewString(role))
	d.AsDict().Set("content", jinja.NewString(content))
	return d
}

// Input is what a template renders.
type Input struct {
	Messages []stream.Message
	Tools    []stream.Tool
	// AddGenerationPrompt ends the prompt with the opening of an
	// assistant turn.
	AddGenerationPrompt bool
	// StripBOS leaves out a BOS text the template writes at the start,
	// for tokenizers that add the BOS token themselves.
	StripBOS bool
	// Now is the time strftime_now reports (default: the current time).
	Now time.Time
}

// Prompt is a rendered conversation.
type Prompt struct {
	// Text is the prompt as the model reads it.
	Text string
	// Plain are the byte ranges of Text holding special-token text that
	// came from the request, not the template: to be encoded as text.
	Plain [][2]int
}

// ErrRender is wrapped by the errors of templates that refuse a
// conversation (raise_exception, e.g. roles out of order).
var ErrRender = errors.New("the model's chat template cannot render this conversation")

// Render renders in. specials are the texts of the vocabulary's control
// tokens: where one occurs in the request's text, it is marked in
// Prompt.Plain so that the tokenizer does not read it as the token.
func (t *Template) Render(in Input, specials []string) (Prompt, error) {
	g := newGuard(specials)
	msgs, err := t.messages(in.Messages, g)
	if err != nil {
		return Prompt{}, err
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	data := map[string]jinja.Value{
		"messages":              msgs,
		"add_generation_prompt": jinja.NewBool(in.AddGenerationPrompt),
		"bos_token":             jinja.NewString(t.bos),
		"eos_token":             jinja.NewString(t.eos),
		indentJSONFunc:          jinja.NewCallable(indentJSONFunc, indentJSON),
		"strftime_now": jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || !args[0].IsString() {
				return jinja.Undefined(), errors.New("strftime_now takes one format string")
			}
			return jinja.NewString(strftime(now, args[0].AsString())), nil
		}),
	}
	if len(in.Tools) > 0 && !t.functions {
		tools, err := toolsValue(in.Tools, g)
		if err != nil {
			return Prompt{}, err
		}
		data["tools"] = tools
		if t.userTools {
			data["tools_in_user_message"] = jinja.NewBool(false)
		}
	}
	if t.functions { // as llama.cpp gives them, with the request's time
		data["datetime"] = jinja.NewString(now.UTC().Format("Jan 02 2006 15:04:05 GMT"))
		data["functions"] = jinja.NewString("")
		if len(in.Tools) > 0 {
			text, err := toolsJSON(in.Tools)
			if err != nil {
				return Prompt{}, err
			}
			data["functions"] = jinja.NewString(g.escape(text))
		}
	}
	out, err := t.t.RenderValues(data)
	if err != nil {
		return Prompt{}, fmt.Errorf("%w: %v", ErrRender, err)
	}
	// As llama.cpp does: the tokenizer adds BOS itself, and a prompt
	// ending in EOS would end the generation before it starts.
	if in.StripBOS && t.bos != "" {
		out = strings.TrimPrefix(out, t.bos)
	}
	if t.eos != "" {
		out = strings.TrimSuffix(out, t.eos)
	}
	return g.restore(out), nil
}

// messages builds the template's messages: OpenAI's shape, tool-call
// arguments as objects (what templates feed to tojson), and system text
// folded into the next user turn where the template has no system role.
func (t *Template) messages(in []stream.Message, g *guard) (jinja.Value, error) {
	var out []jinja.Value
	pending := ""
	for _, m := range in {
		content := g.escape(m.Content)
		if !t.systemRole {
			switch m.Role {
			case stream.RoleSystem:
				if pending != "" {
					pending += "\n"
				}
				pending += content
				continue
			case stream.RoleUser:
				if pending != "" {
					if content != "" {
						content = pending + "\n" + content
					} else {
						content = pending
					}
					pending = ""
				}
			default:
				if pending != "" {
					out = append(out, message("user", pending))
					pending = ""
				}
			}
		}
		d := jinja.NewDict()
		md := d.AsDict()
		md.Set("role", jinja.NewString(m.Role))
		if content == "" { // as llama.cpp passes an empty content
			md.Set("content", jinja.None())
		} else {
			md.Set("content", jinja.NewString(content))
		}
		if m.Thinking != "" {
			md.Set("reasoning_content", jinja.NewString(g.escape(m.Thinking)))
		}
		if m.Name != "" {
			md.Set("name", jinja.NewString(g.escape(m.Name)))
		}
		if m.ToolCallID != "" {
			md.Set("tool_call_id", jinja.NewString(g.escape(m.ToolCallID)))
		}
		if len(m.ToolCalls) > 0 {
			calls := make([]jinja.Value, 0, len(m.ToolCalls))
			for _, c := range m.ToolCalls {
				args := jinja.NewString(g.escape(c.Arguments))
				if t.objectArgs {
					if obj, err := jsonValue([]byte(c.Arguments), g); err == nil {
						args = obj
					}
				}
				fn := jinja.NewDict()
				fn.AsDict().Set("name", jinja.NewString(g.escape(c.Name)))
				fn.AsDict().Set("arguments", args)
				call := jinja.NewDict()
				call.AsDict().Set("type", jinja.NewString("function"))
				call.AsDict().Set("function", fn)
				if c.ID != "" {
					call.AsDict().Set("id", jinja.NewString(g.escape(c.ID)))
				}
				calls = append(calls, call)
			}
			md.Set("tool_calls", jinja.NewList(calls))
		}
		out = append(out, d)
	}
	if pending != "" {
		out = append(out, message("user", pending))
	}
	return jinja.NewList(out), nil
}

// toolsValue is the request's tools in OpenAI's shape.
func toolsValue(tools []stream.Tool, g *guard) (jinja.Value, error) {
	out := make([]jinja.Value, 0, len(tools))
	for _, tl := range tools {
		fn := jinja.NewDict()
		fn.AsDict().Set("name", jinja.NewString(g.escape(tl.Name)))
		if tl.Description != "" {
			fn.AsDict().Set("description", jinja.NewString(g.escape(tl.Description)))
		}
		if len(tl.Parameters) > 0 {
			p, err := jsonValue(tl.Parameters, g)
			if err != nil {
				return jinja.Value{}, fmt.Errorf("tool %s: parameters: %w", tl.Name, err)
			}
			fn.AsDict().Set("parameters", p)
		}
		d := jinja.NewDict()
		d.AsDict().Set("type", jinja.NewString("function"))
		d.AsDict().Set("function", fn)
		out = append(out, d)
	}
	return jinja.NewList(out), nil
}

// toolsJSON is the tools in OpenAI's shape as JSON indented by two spaces,
// keys in the request's order.
func toolsJSON(tools []stream.Tool) (string, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, tl := range tools {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"function","function":{"name":`)
		writeJSONString(&b, tl.Name)
		if tl.Description != "" {
			b.WriteString(`,"description":`)
			writeJSONString(&b, tl.Description)
		}
		if len(tl.Parameters) > 0 {
			b.WriteString(`,"parameters":`)
			b.Write(tl.Parameters)
		}
		b.WriteString("}}")
	}
	b.WriteByte(']')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return "", fmt.Errorf("tools: %w", err)
	}
	return out.String(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// jsonValue decodes JSON into template values, keeping the order of object
// keys (tojson writes them back in that order, as llama.cpp does).
func jsonValue(data []byte, g *guard) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, g, 0)
	if err != nil {
		return jinja.Value{}, err
	}
	if _, err := dec.Token(); err == nil {
		return jinja.Value{}, errors.New("data after the JSON value")
	}
	return v, nil
}

const maxDepth = 100

func decodeValue(dec *json.Decoder, g *guard, depth int) (jinja.Value, error) {
	if depth > maxDepth {
		return jinja.Value{}, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return jinja.Value{}, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '{':
			d := jinja.NewDict()
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return jinja.Value{}, err
				}
				v, err := decodeValue(dec, g, depth+1)
				if err != nil {
					return jinja.Value{}, err
				}
				d.AsDict().Set(g.escape(k.(string)), v)
			}
			_, err := dec.Token()
			return d, err
		case '[':
			var items []jinja.Value
			for dec.More() {
				v, err := decodeValue(dec, g, depth+1)
				if err != nil {
					return jinja.Value{}, err
				}
				items = append(items, v)
			}
			_, err := dec.Token()
			return jinja.NewList(items), err
		}
		return jinja.Value{}, fmt.Errorf("unexpected %v", tok)
	case string:
		return jinja.NewString(g.escape(tok)), nil
	case json.Number, bool, nil:
		return jinja.FromGoValue(tok), nil
	}
	return jinja.Value{}, fmt.Errorf("unexpected JSON token %v", tok)
}
