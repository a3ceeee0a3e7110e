package anthropic

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// requestBody writes the upstream Messages request's body into buf (a
// buffer of the pool that dialect.NewUpstreamPost gives a long body back
// to once nothing can send it again) and returns it: the bytes
// json.Marshal(m) gives, appended directly for requests without tools or
// tool-use blocks (whose raw JSON encoding/json compacts and escapes),
// which go through encoding/json.
// TestRequestBodyMatchesMarshal and FuzzRequestBody hold the two to the
// same bytes.
func requestBody(buf *[]byte, m *MessagesRequest) (*[]byte, error) {
	if b, ok := appendRequest((*buf)[:0], m); ok {
		*buf = b
		return buf, nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		dialect.PutBuffer(buf)
		return nil, err
	}
	*buf = data // the pool takes any buffer back
	return buf, nil
}

// body is req's upstream body, in a buffer sized by bodySize: for the
// usual request straight from req (appendPlainBody), else from the
// MessagesRequest upstreamRequest makes of it.
func (p *Provider) body(req *stream.Request) (*[]byte, error) {
	buf := dialect.GetBuffer(bodySize(req))
	if b, ok := p.appendPlainBody(*buf, req); ok {
		*buf = b
		return buf, nil
	}
	return requestBody(buf, p.upstreamRequest(req))
}

// appendPlainBody appends the body of req's MessagesRequest
// (upstreamRequest's) for the usual request, turns of text without tools,
// thinking or metadata, without building it: its turns, blocks and
// pointers are a few allocations and about 2k instructions a call. ok is
// false for any other request (FuzzPlainBody holds the two to the same
// bytes).
func (p *Provider) appendPlainBody(b []byte, req *stream.Request) (_ []byte, ok bool) {
	sp := &req.Sampling
	if req.Thinking || len(req.Tools) > 0 || req.ToolChoice != "" || req.Metadata["user_id"] != "" ||
		!dialect.Finite(sp.Temperature) || !dialect.Finite(sp.TopP) {
		return b, false
	}
	msgs := req.Messages
	if len(msgs) == 0 {
		msgs = []stream.Message{{Role: stream.RoleUser, Content: req.Prompt}}
	}
	maxTokens := sp.MaxTokens
	if maxTokens <= 0 {
		maxTokens = p.cfg.MaxTokens
	}
	b = append(b, `{"model":`...)
	b = dialect.AppendMarshalledString(b, req.Model)
	b = append(b, `,"max_tokens":`...)
	b = strconv.AppendInt(b, int64(maxTokens), 10)
	b = append(b, `,"messages":[`...)
	var (
		role    string // of the turn being written
		systems int
		system  string // the one system message
	)
	for i := range msgs {
		m := &msgs[i]
		if len(m.ToolCalls) > 0 || m.Role == stream.RoleTool {
			return b, false
		}
		if m.Role == stream.RoleSystem {
			systems, system = systems+1, m.Content
			continue
		}
		// A turn's first message has a block, empty or not; consecutive
		// turns of one role merge, adding their texts (upstreamRequest).
		if m.Role == role {
			if m.Content != "" {
				b = appendBlock(append(b, ','), &Block{Type: "text", Text: m.Content})
			}
			continue
		}
		if role != "" {
			b = append(b, "]},"...)
		}
		role = m.Role
		b = dialect.AppendMarshalledString(append(b, `{"role":`...), role)
		b = appendBlock(append(b, `,"content":[`...), &Block{Type: "text", Text: m.Content})
	}
	if role == "" {
		return b, false // no turn: "messages":null, left to the general path
	}
	b = append(b, "]}]"...)
	if systems > 0 {
		if systems > 1 {
			system = joinSystem(msgs)
		}
		b = dialect.AppendMarshalledString(append(b, `,"system":`...), system)
	}
	return append(appendSampling(b, sp.Stop, true, sp.Temperature, sp.TopP, sp.TopK), '}'), true
}

// joinSystem is the system prompt of several system messages, as
// upstreamRequest joins them.
func joinSystem(msgs []stream.Message) string {
	var system []string
	for i := range msgs {
		if msgs[i].Role == stream.RoleSystem {
			system = append(system, msgs[i].Content)
		}
	}
	return strings.Join(system, "\n\n")
}

// bodySize is a guess at the length of req's upstream body, so that it
// is written with one allocation in most calls (from 256 bytes, an 8 KiB
// prompt's grew through six, 32 KiB in all).
func bodySize(req *stream.Request) int {
	n := 256 + len(req.Model)
	for i := range req.Messages {
		n += 64 + len(req.Messages[i].Content) + len(req.Messages[i].Thinking)
	}
	return n
}

// appendRequest appends m as encoding/json writes it; ok is false for a
// request it leaves to encoding/json (see requestBody).
func appendRequest(b []byte, m *MessagesRequest) (_ []byte, ok bool) {
	if len(m.Tools) > 0 || m.BufferSize != nil || m.TimeoutMs != nil ||
		!dialect.Finite(m.Temperature) || !dialect.Finite(m.TopP) || !plainTurns(m) {
		return b, false
	}
	b = append(b, `{"model":`...)
	b = dialect.AppendMarshalledString(b, m.Model)
	if m.MaxTokens != nil {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(*m.MaxTokens), 10)
	}
	b = append(b, `,"messages":`...)
	if m.Messages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range m.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"role":`...)
			b = dialect.AppendMarshalledString(b, m.Messages[i].Role)
			b = append(b, `,"content":`...)
			b = appendContent(b, &m.Messages[i].Content)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if m.System != nil {
		b = append(b, `,"system":`...)
		b = appendContent(b, m.System)
	}
	b = appendSampling(b, m.StopSequences, m.Stream, m.Temperature, m.TopP, m.TopK)
	if tc := m.ToolChoice; tc != nil {
		b = append(b, `,"tool_choice":{"type":`...)
		b = dialect.AppendMarshalledString(b, tc.Type)
		b = appendField(b, `,"name":`, tc.Name)
		b = append(b, '}')
	}
	if th := m.Thinking; th != nil {
		b = append(b, `,"thinking":{"type":`...)
		b = dialect.AppendMarshalledString(b, th.Type)
		if th.BudgetTokens != 0 {
			b = append(b, `,"budget_tokens":`...)
			b = strconv.AppendInt(b, int64(th.BudgetTokens), 10)
		}
		b = append(b, '}')
	}
	if m.Metadata != nil {
		b = append(b, `,"metadata":{`...)
		if m.Metadata.UserID != "" {
			b = append(b, `"user_id":`...)
			b = dialect.AppendMarshalledString(b, m.Metadata.UserID)
		}
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// appendSampling appends the fields from stop_sequences to top_k, as
// encoding/json writes them.
func appendSampling(b []byte, stops []string, stream bool, temperature, topP *float64, topK *int) []byte {
	b = dialect.AppendStringsField(b, `,"stop_sequences":`, stops)
	if stream {
		b = append(b, `,"stream":true`...)
	}
	b = dialect.AppendFloatField(b, `,"temperature":`, temperature)
	b = dialect.AppendFloatField(b, `,"top_p":`, topP)
	if topK != nil {
		b = append(b, `,"top_k":`...)
		b = strconv.AppendInt(b, int64(*topK), 10)
	}
	return b
}

// plainTurns reports that no block of m holds raw JSON (a tool_use's
// input).
func plainTurns(m *MessagesRequest) bool {
	for i := range m.Messages {
		if !plainBlocks(m.Messages[i].Content.Blocks) {
			return false
		}
	}
	return m.System == nil || plainBlocks(m.System.Blocks)
}

func plainBlocks(blocks []Block) bool {
	for i := range blocks {
		if blocks[i].Input != nil || blocks[i].Content != nil && !plainBlocks(blocks[i].Content.Blocks) {
			return false
		}
	}
	return true
}

// appendContent is Content.MarshalJSON's answer.
func appendContent(b []byte, c *Content) []byte {
	if c.text != nil {
		return dialect.AppendMarshalledString(b, *c.text)
	}
	if c.Blocks == nil {
		return append(b, "[]"...)
	}
	b = append(b, '[')
	for i := range c.Blocks {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendBlock(b, &c.Blocks[i])
	}
	return append(b, ']')
}

// appendBlock writes a Block without raw JSON (see plainBlocks).
func appendBlock(b []byte, k *Block) []byte {
	b = append(b, `{"type":`...)
	b = dialect.AppendMarshalledString(b, k.Type)
	b = appendField(b, `,"text":`, k.Text)
	b = appendField(b, `,"thinking":`, k.Thinking)
	b = appendField(b, `,"signature":`, k.Signature)
	b = appendField(b, `,"id":`, k.ID)
	b = appendField(b, `,"name":`, k.Name)
	b = appendField(b, `,"tool_use_id":`, k.ToolUseID)
	if k.Content != nil {
		b = append(b, `,"content":`...)
		b = appendContent(b, k.Content)
	}
	if k.IsError {
		b = append(b, `,"is_error":true`...)
	}
	return append(b, '}')
}

// appendField writes key and v, unless v is empty (omitempty).
func appendField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, key...)
	return dialect.AppendMarshalledString(b, v)
}
