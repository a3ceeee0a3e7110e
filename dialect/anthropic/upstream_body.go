package anthropic

import (
	"encoding/json"
	"strconv"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// requestBody is the upstream Messages request's body: the bytes
// json.Marshal(m) gives, appended directly for requests without tools or
// tool-use blocks (whose raw JSON encoding/json compacts and escapes),
// which go through encoding/json. TestRequestBodyMatchesMarshal and
// FuzzRequestBody hold the two to the same bytes. The buffer, of size
// bytes (bodySize's guess), comes from the pool that
// dialect.NewUpstreamPost gives a long body back to once sent.
func requestBody(m *MessagesRequest, size int) ([]byte, error) {
	buf := dialect.GetBuffer(size)
	if b, ok := appendRequest(*buf, m); ok {
		return b, nil
	}
	dialect.PutBuffer(buf)
	return json.Marshal(m)
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
	if len(m.StopSequences) > 0 {
		b = append(b, `,"stop_sequences":[`...)
		for i, s := range m.StopSequences {
			if i > 0 {
				b = append(b, ',')
			}
			b = dialect.AppendMarshalledString(b, s)
		}
		b = append(b, ']')
	}
	if m.Stream {
		b = append(b, `,"stream":true`...)
	}
	b = dialect.AppendFloatField(b, `,"temperature":`, m.Temperature)
	b = dialect.AppendFloatField(b, `,"top_p":`, m.TopP)
	if m.TopK != nil {
		b = append(b, `,"top_k":`...)
		b = strconv.AppendInt(b, int64(*m.TopK), 10)
	}
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
