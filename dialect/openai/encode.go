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
	// The head and the chunk buffer share one array: the buffer holds a
	// copy of the head, the delta's keys (about 100 bytes) and a token's
	// text; a longer chunk grows it. An open stream keeps both.
	n := 96 + len(id) + len(model)
	h := make([]byte, 0, 2*n+128)
	h = append(h, `{"id":`...)
	h = dialect.AppendJSONString(h, id)
	h = append(h, `,"object":"`...)
	h = append(h, object...)
	h = append(h, `","created":`...)
	h = strconv.AppendInt(h, created, 10)
	h = append(h, `,"model":`...)
	h = dialect.AppendJSONString(h, model)
	h = append(h, `,"choices":[`...)
	return &chunkEncoder{head: h[:len(h):len(h)], legacy: legacy, buf: h[len(h):]}
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

// close ends the chunk opened by open with the choice's logprobs ("" for
// null) and a finish reason ("" for null).
func (e *chunkEncoder) close(b []byte, lp stream.Logprobs, finish string) []byte {
	if !e.legacy {
		if b[len(b)-1] == ',' {
			b = b[:len(b)-1]
		}
		if lp == "" && finish == "" { // a token's chunk
			b = append(b, `},"logprobs":null,"finish_reason":null}]}`...)
			e.buf = b
			return b
		}
		b = append(b, '}', ',')
	}
	if lp == "" {
		b = append(b, `"logprobs":null,"finish_reason":`...)
	} else {
		b = append(b, `"logprobs":`...)
		b = append(b, lp...)
		b = append(b, `,"finish_reason":`...)
	}
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

// Delta encodes a content or reasoning delta, with its token logprobs
// ("" for null). It returns nil for events the legacy API has no place
// for (thinking).
func (e *chunkEncoder) Delta(ch stream.Channel, text string, lp stream.Logprobs) []byte {
	if e.legacy {
		if ch == stream.Thinking {
			return nil
		}
		b := e.open()
		b = append(b, `"text":`...)
		b = dialect.AppendJSONString(b, text)
		b = append(b, ',')
		return e.close(b, lp, "")
	}
	b := e.open()
	if ch == stream.Thinking {
		b = append(b, `"reasoning_content":`...)
	} else {
		b = append(b, `"content":`...)
	}
	b = dialect.AppendJSONString(b, text)
	return e.close(b, lp, "")
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
	return e.close(b, "", "")
}

// Finish encodes the chunk that carries finish_reason, with llama.cpp's
// timings when u has the provider's own measurements (the engine's).
func (e *chunkEncoder) Finish(reason string, u *stream.Usage) []byte {
	b := e.open()
	if e.legacy {
		b = append(b, `"text":"",`...)
	}
	b = e.close(b, "", reason)
	if hasTimings(u) {
		b = appendTimings(b[:len(b)-1], u)
		b = append(b, '}')
		e.buf = b
	}
	return b
}

// Usage encodes the include_usage chunk: no choices, just usage (and the
// timings, as on the finish chunk).
func (e *chunkEncoder) Usage(u *stream.Usage) []byte {
	b := append(e.buf[:0], e.head...)
	b = append(b, "],"...)
	b = appendUsage(b, u)
	if hasTimings(u) {
		b = appendTimings(b, u)
	}
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

// hasTimings reports whether u carries the provider's own durations.
func hasTimings(u *stream.Usage) bool {
	return u != nil && !u.Estimated && u.GenerationDuration > 0
}

// appendTimings appends `,"timings":{…}` in llama.cpp server's shape, so
// clients that read its tokens/s find them here too.
func appendTimings(b []byte, u *stream.Usage) []byte {
	t := timingsOf(u)
	b = append(b, `,"timings":{"prompt_n":`...)
	b = strconv.AppendInt(b, int64(t.PromptN), 10)
	b = append(b, `,"prompt_ms":`...)
	b = strconv.AppendFloat(b, t.PromptMS, 'f', 3, 64)
	b = append(b, `,"prompt_per_second":`...)
	b = strconv.AppendFloat(b, t.PromptPerSecond, 'f', 2, 64)
	b = append(b, `,"predicted_n":`...)
	b = strconv.AppendInt(b, int64(t.PredictedN), 10)
	b = append(b, `,"predicted_ms":`...)
	b = strconv.AppendFloat(b, t.PredictedMS, 'f', 3, 64)
	b = append(b, `,"predicted_per_token_ms":`...)
	b = strconv.AppendFloat(b, t.PredictedPerTokenMS, 'f', 3, 64)
	b = append(b, `,"predicted_per_second":`...)
	b = strconv.AppendFloat(b, t.PredictedPerSecond, 'f', 2, 64)
	return append(b, '}')
}

// timingsOf derives llama.cpp's timing figures from a usage.
func timingsOf(u *stream.Usage) *Timings {
	t := &Timings{
		PromptN:     u.PromptTokens,
		PromptMS:    float64(u.PromptDuration) / 1e6,
		PredictedN:  u.CompletionTokens,
		PredictedMS: float64(u.GenerationDuration) / 1e6,
	}
	if u.PromptDuration > 0 {
		t.PromptPerSecond = float64(u.PromptTokens) / u.PromptDuration.Seconds()
	}
	if u.CompletionTokens > 0 {
		t.PredictedPerTokenMS = t.PredictedMS / float64(u.CompletionTokens)
		t.PredictedPerSecond = u.TokensPerSecond()
	}
	return t
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
