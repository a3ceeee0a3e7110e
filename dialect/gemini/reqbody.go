package gemini

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// requestBody is the streamed request's body: the bytes
// json.Marshal(upstreamRequest(req)) gives, appended directly into a
// pooled buffer (dialect.NewUpstreamPost gives it back) for the requests
// most calls are: text turns, sampling, thinking and JSON mode. One with
// tool calls or results, tools, a tool choice, a schema (encoding/json
// compacts and escapes it) or a sampling value JSON cannot hold goes
// through encoding/json. TestRequestBodyMatchesMarshal and
// FuzzRequestBody hold the two to the same bytes.
func requestBody(req *stream.Request) (*[]byte, error) {
	buf := dialect.GetBuffer(bodySize(req))
	if b, ok := appendBody(*buf, req); ok {
		*buf = b
		return buf, nil
	}
	dialect.PutBuffer(buf)
	b, err := marshalBody(req)
	return &b, err
}

// marshalBody is requestBody by encoding/json: any request.
func marshalBody(req *stream.Request) ([]byte, error) {
	body, err := upstreamRequest(req)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, stream.Errorf(stream.CodeInvalidRequest, "gemini: %v", err)
	}
	return b, nil
}

// bodySize is a guess at the body's length, so that it is written with
// one allocation in most calls.
func bodySize(req *stream.Request) int {
	n := 200 + len(req.Prompt)
	for i := range req.Messages {
		n += 40 + len(req.Messages[i].Content)
	}
	return n
}

// appendBody appends marshalBody's bytes to b; ok is false for a request
// it leaves to encoding/json (see requestBody).
func appendBody(b []byte, req *stream.Request) (_ []byte, ok bool) {
	s := &req.Sampling
	if len(req.Tools) > 0 || req.ToolChoice != "" || !dialect.Finite(s.Temperature) || !dialect.Finite(s.TopP) ||
		req.ResponseFormat.IsJSON() && req.ResponseFormat.Type == stream.FormatJSONSchema && len(req.ResponseFormat.Schema) > 0 {
		return b, false
	}
	msgs := req.Messages
	if len(msgs) == 0 {
		msgs = []stream.Message{{Role: stream.RoleUser, Content: req.Prompt}}
	}
	b = append(b, `{"contents":`...)
	role, system := "", 0 // of the content open; system messages
	for i := range msgs {
		m := &msgs[i]
		if len(m.ToolCalls) > 0 || m.Role == stream.RoleTool {
			return b, false
		}
		r := "user"
		switch m.Role {
		case stream.RoleSystem:
			system++
			continue
		case stream.RoleAssistant:
			r = "model"
		}
		switch {
		case role == "":
			b = append(b, '[')
		case r == role: // turns of one role are one content
			b = append(b, ',')
		default:
			b = append(b, "]},"...)
		}
		if r != role {
			b = append(b, `{"role":"`...)
			b = append(b, r...)
			b = append(b, `","parts":[`...)
			role = r
		}
		b = appendPart(b, m.Content)
	}
	if role == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, "]}]"...)
	}
	if system > 0 {
		b = append(b, `,"systemInstruction":{"parts":[`...)
		b = appendPart(b, systemText(msgs, system))
		b = append(b, "]}"...)
	}
	return append(appendConfig(b, req), '}'), true
}

// appendPart is a text part (an empty one has no text).
func appendPart(b []byte, text string) []byte {
	if text == "" {
		return append(b, "{}"...)
	}
	b = append(b, `{"text":`...)
	return append(dialect.AppendMarshalledString(b, text), '}')
}

// systemText is the system messages' text, of n of them.
func systemText(msgs []stream.Message, n int) string {
	texts := make([]string, 0, n)
	for i := range msgs {
		if msgs[i].Role == stream.RoleSystem {
			texts = append(texts, msgs[i].Content)
		}
	}
	if n == 1 {
		return texts[0]
	}
	return strings.Join(texts, "\n\n")
}

// appendConfig is the generationConfig upstreamRequest fills.
func appendConfig(b []byte, req *stream.Request) []byte {
	s := &req.Sampling
	b = append(b, `,"generationConfig":{`...)
	start := len(b)
	if s.MaxTokens != 0 {
		b = strconv.AppendInt(append(b, `,"maxOutputTokens":`...), int64(s.MaxTokens), 10)
	}
	b = dialect.AppendFloatField(b, `,"temperature":`, s.Temperature)
	b = dialect.AppendFloatField(b, `,"topP":`, s.TopP)
	b = dialect.AppendIntField(b, `,"topK":`, s.TopK)
	b = dialect.AppendIntField(b, `,"seed":`, s.Seed)
	b = dialect.AppendStringsField(b, `,"stopSequences":`, s.Stop)
	if req.Thinking {
		b = append(b, `,"thinkingConfig":{"includeThoughts":true}`...)
	}
	if req.ResponseFormat.IsJSON() {
		b = append(b, `,"responseMimeType":"application/json"`...)
	}
	if len(b) > start {
		b = append(b[:start], b[start+1:]...) // the first field's comma
	}
	return append(b, '}')
}
