package openai

import (
	"strconv"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// chunkEncoder turns stream events into the JSON of chat.completion.chunk
// (or text_completion) events. The parts that are the same on every chunk
// (id, object, created, model) are encoded once; each event appends into
// one reused buffer, so the per-token path allocates nothing.
type chunkEncoder struct {
	head     []byte // {"id":…,"model":…,"choices":[
	legacy   bool   // text_completion chunks
	roleSent bool
	buf      []byte
}

func newChunkEncoder(id, model string, created int64, legacy bool) *chunkEncoder {
	object := "chat.completion.chunk"
	if legacy {
		object = "text_completion"
	}
	h := make([]byte, 0, 128+len(id)+len(model))
	h = append(h, `{"id":`...)
	h = dialect.AppendJSONString(h, id)
	h = append(h, `,"object":"`...)
	h = append(h, object...)
	h = append(h, `","created":`...)
	h = strconv.AppendInt(h, created, 10)
	h = append(h, `,"model":`...)
	h = dialect.AppendJSONString(h, model)
	h = append(h, `,"choices":[`...)
	return &chunkEncoder{head: h, legacy: legacy, buf: make([]byte, 0, 512)}
}

// open starts a chunk with one choice and, for chat, an open delta object.
func (e *chunkEncoder) open() []byte {
	b := append(e.buf[:0], e.head...)
	if e.legacy {
		return append(b, `{"index":0,`...)
	}
	b = append(b, `{"index":0,"delta":{`...)
	if !e.roleSent {
		e.roleSent = true
		b = append(b, `"role":"assistant",`...)
	}
	return b
}

// close ends the chunk opened by open with a finish reason ("" for null).
func (e *chunkEncoder) close(b []byte, finish string) []byte {
	if !e.legacy {
		if b[len(b)-1] == ',' {
			b = b[:len(b)-1]
		}
		b = append(b, '}', ',')
	}
	b = append(b, `"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = append(b, finish...)
		b = append(b, '"')
	}
	b = append(b, "}]}"...)
	e.buf = b
	return b
}

// Delta encodes a content or reasoning delta. It returns nil for events the
// legacy API has no place for (thinking).
func (e *chunkEncoder) Delta(ch stream.Channel, text string) []byte {
	if e.legacy {
		if ch == stream.Thinking {
			return nil
		}
		b := e.open()
		b = append(b, `"text":`...)
		b = dialect.AppendJSONString(b, text)
		b = append(b, ',')
		return e.close(b, "")
	}
	b := e.open()
	if ch == stream.Thinking {
		b = append(b, `"reasoning_content":`...)
	} else {
		b = append(b, `"content":`...)
	}
	b = dialect.AppendJSONString(b, text)
	return e.close(b, "")
}

// ToolCall encodes a tool-call delta in OpenAI's shape: id, type and name
// only on the fragment that has them.
func (e *chunkEncoder) ToolCall(tc *stream.ToolCallDelta) []byte {
	if e.legacy {
		return nil
	}
	b := e.open()
	b = append(b, `"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(tc.Index), 10)
	if tc.ID != "" {
		b = append(b, `,"id":`...)
		b = dialect.AppendJSONString(b, tc.ID)
		b = append(b, `,"type":"function"`...)
	}
	b = append(b, `,"function":{`...)
	if tc.Name != "" {
		b = append(b, `"name":`...)
		b = dialect.AppendJSONString(b, tc.Name)
		b = append(b, ',')
	}
	b = append(b, `"arguments":`...)
	b = dialect.AppendJSONString(b, tc.Arguments)
	b = append(b, "}}]"...)
	return e.close(b, "")
}

// Finish encodes the chunk that carries finish_reason.
func (e *chunkEncoder) Finish(reason string) []byte {
	b := e.open()
	if e.legacy {
		b = append(b, `"text":"",`...)
	}
	return e.close(b, reason)
}

// Usage encodes the include_usage chunk: no choices, just usage.
func (e *chunkEncoder) Usage(u *stream.Usage) []byte {
	b := append(e.buf[:0], e.head...)
	b = append(b, "],"...)
	b = appendUsage(b, u)
	b = append(b, '}')
	e.buf = b
	return b
}

func appendUsage(b []byte, u *stream.Usage) []byte {
	b = append(b, `"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens()), 10)
	if u.ReasoningTokens > 0 {
		b = append(b, `,"completion_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, int64(u.ReasoningTokens), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// finishReason maps a stream finish to OpenAI's finish_reason. ok is false
// for reasons OpenAI has no value for (cancelled, error).
func finishReason(r stream.FinishReason) (reason string, ok bool) {
	switch r {
	case stream.FinishStop, stream.FinishLength, stream.FinishToolCalls, stream.FinishContentFilter:
		return string(r), true
	case "":
		return "stop", true
	}
	return "", false
}
