package openai

import (
	"strconv"
	"strings"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// chunkEncoder turns stream events into the JSON of chat.completion.chunk
// (or text_completion) events. The parts that are the same on every chunk
// (id, object, created, model) are encoded once; each event is appended
// straight into the SSE writer's buffer (sse.Writer.SendAppend), so a
// token's bytes are copied once and the per-token path allocates nothing.
type chunkEncoder struct {
	head     []byte // {"id":…,"model":…,"choices":[
	legacy   bool   // text_completion chunks
	roleSent bool
	// lines are "data: " and a chat token's chunk up to its content
	// string, its content (head, then `{"index":0,"delta":{"content":`,
	// for AppendDelta's common case in one copy): a token's sse.TextEvent
	// lines.
	lines []byte
	// buf holds a chunk with the upstream's raw logprobs, which may hold
	// line breaks and so goes through sse.Writer.Send (Delta).
	buf []byte
	// inline holds content (and so head) when it fits, which it does
	// for ids and model names of common lengths: the encoder and its
	// bytes in one allocation, not two.
	inline [inlineHead]byte
}

// inlineHead is chunkEncoder.inline's length: "data: ", a chat chunk's
// head and contentOpen (a bound of 132 bytes, the id and the model) for
// an id of up to 38 bytes with its prefix and a model name of up to 60,
// the encoder in a 320-byte size class.
const inlineHead = 230

func newChunkEncoder(id, model string, created int64, legacy bool) *chunkEncoder {
	return newChunkEncoderFor("", id, model, created, legacy)
}

// newChunkEncoderFor is newChunkEncoder for the id prefix+id (id alone when
// it begins with prefix, as withPrefix), written without that string. A
// chat encoder's head and content are one buffer: content is head and
// the delta's opening, so the call's first chunk costs one allocation for
// both.
func newChunkEncoderFor(prefix, id, model string, created int64, legacy bool) *chunkEncoder {
	e := new(chunkEncoder)
	e.init(prefix, id, model, created, legacy)
	return e
}

// init makes e newChunkEncoderFor's encoder in place.
func (e *chunkEncoder) init(prefix, id, model string, created int64, legacy bool) {
	object := "chat.completion.chunk"
	if legacy {
		object = "text_completion"
	}
	if strings.HasPrefix(id, prefix) {
		prefix = ""
	}
	*e = chunkEncoder{legacy: legacy}
	h := e.inline[:0]
	if n := len(dataLine) + 96 + len(prefix) + len(id) + len(model) + len(contentOpen); n > len(e.inline) {
		h = make([]byte, 0, n)
	}
	h = append(h, dataLine...)
	h = append(h, `{"id":`...)
	h = appendPrefixedString(h, prefix, id)
	h = append(h, `,"object":"`...)
	h = append(h, object...)
	h = append(h, `","created":`...)
	h = strconv.AppendInt(h, created, 10)
	h = append(h, `,"model":`...)
	h = dialect.AppendJSONString(h, model)
	h = append(h, `,"choices":[`...)
	e.head = h[len(dataLine):len(h):len(h)]
	if !legacy {
		e.lines = append(h, contentOpen...)
	}
}

// dataLine begins a chunkEncoder's lines: sse.TextLines(nil, "").
const dataLine = "data: "

// content is a chat token's chunk up to its content string, or nil.
func (e *chunkEncoder) content() []byte {
	if e.lines == nil {
		return nil
	}
	return e.lines[len(dataLine):]
}

// contentOpen follows the head in a chat token's chunk (chunkEncoder.content).
const contentOpen = `{"index":0,"delta":{"content":`

// appendPrefixedString appends the JSON string of prefix+id; prefix is
// letters, digits, '_' and '-', which JSON writes as they are.
func appendPrefixedString(b []byte, prefix, id string) []byte {
	if prefix == "" {
		return dialect.AppendJSONString(b, id)
	}
	b = append(append(b, '"'), prefix...)
	n := len(b)
	b = dialect.AppendJSONString(b, id)
	return append(b[:n], b[n+1:]...) // drop id's opening quote
}

// tokenTail ends a chat token's chunk (close's, with neither logprobs nor
// a finish reason).
const tokenTail = `},"logprobs":null,"finish_reason":null}]}`

// open appends the start of a chunk with one choice and, for chat, an
// open delta object.
func (e *chunkEncoder) open(b []byte) []byte {
	b = append(b, e.head...)
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
			return append(b, tokenTail...)
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
	return append(b, "}]}"...)
}

// Has says whether the API has a place for deltas of ch: the legacy one
// has none for thinking.
func (e *chunkEncoder) Has(ch stream.Channel) bool { return !e.legacy || ch != stream.Thinking }

// AppendDelta appends the chunk of a content or reasoning delta, with its
// token logprobs ("" for null), to b. Call it only where Has(ch).
func (e *chunkEncoder) AppendDelta(b []byte, ch stream.Channel, text string, lp stream.Logprobs) []byte {
	if e.roleSent && lp == "" && ch != stream.Thinking && e.lines != nil {
		return e.tokenChunk(b, text)
	}
	b = e.open(b)
	switch {
	case e.legacy:
		b = dialect.AppendJSONString(append(b, `"text":`...), text)
		b = append(b, ',')
	case ch == stream.Thinking:
		b = dialect.AppendJSONString(append(b, `"reasoning_content":`...), text)
	default:
		b = dialect.AppendJSONString(append(b, `"content":`...), text)
	}
	return e.close(b, lp, "")
}

// tokenEvent sets *te to the event of a token of the call's token path
// (stream.TokenStream: output text, no logprobs) but its content string
// (sse.Writer.SendText), and reports whether it could: not until the
// role is sent, nor for the legacy API (AppendDelta's chunk then). The
// caller keeps it: in the encoder it would take the encoder out of its
// size class (see inline).
func (e *chunkEncoder) tokenEvent(te *sse.TextEvent) bool {
	if !e.roleSent || e.lines == nil {
		return false
	}
	*te = sse.TextEvent{Lines: e.lines, End: tokenTail + "\n\n"}
	return true
}

// tokenChunk is a chat token's chunk: what open, the content key and
// close append, with two copies fewer (TestEncoderTokenChunk).
func (e *chunkEncoder) tokenChunk(b []byte, text string) []byte {
	b = dialect.AppendJSONString(append(b, e.content()...), text)
	return append(b, tokenTail...)
}

// Delta is AppendDelta into the encoder's own buffer, for a chunk that
// carries logprobs; nil where the API has no place for ch.
func (e *chunkEncoder) Delta(ch stream.Channel, text string, lp stream.Logprobs) []byte {
	if !e.Has(ch) {
		return nil
	}
	e.buf = e.AppendDelta(e.buf[:0], ch, text, lp)
	return e.buf
}

// AppendToolCall appends a tool-call delta's chunk in OpenAI's shape (id,
// type and name only on the fragment that has them). The legacy API has
// no place for tool calls.
func (e *chunkEncoder) AppendToolCall(b []byte, tc *stream.ToolCallDelta) []byte {
	b = e.open(b)
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

// AppendFinish appends the chunk that carries finish_reason, with
// llama.cpp's timings when u has the provider's own measurements (the
// engine's).
func (e *chunkEncoder) AppendFinish(b []byte, reason string, u *stream.Usage) []byte {
	b = e.open(b)
	if e.legacy {
		b = append(b, `"text":"",`...)
	}
	b = e.close(b, "", reason)
	if hasTimings(u) {
		b = appendTimings(b[:len(b)-1], u)
		b = append(b, '}')
	}
	return b
}

// AppendUsage appends the include_usage chunk: no choices, just usage
// (and the timings, as on the finish chunk).
func (e *chunkEncoder) AppendUsage(b []byte, u *stream.Usage) []byte {
	b = append(b, e.head...)
	b = append(b, "],"...)
	b = appendUsage(b, u)
	if hasTimings(u) {
		b = appendTimings(b, u)
	}
	return append(b, '}')
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
