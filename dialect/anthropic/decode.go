package anthropic

import (
	"github.com/runnel/runnel/dialect"
)

// scanMessages decodes the Messages request most clients send into b
// without encoding/json: an object of the keys below, turns of a role and
// a content that is a string or text blocks, a system prompt of the same,
// strings whose escapes are simple, no nulls, no key twice. Anything else
// returns false with b zero, as it must be on entry, and encoding/json
// decodes the body as before: the scanner only takes bodies that
// encoding/json decodes to the same value (FuzzScanMessages).
//
// data must be the caller's own (dialect.DecodeJSONOwned): the texts of
// the turns and the system prompt are views of it, and those with
// escapes are unescaped in place once the whole body is taken.
func scanMessages(data []byte, b *MessagesRequest) bool { return scanMessagesInto(data, b, nil) }

// messagesRoom is room its caller has for what scanMessagesInto reads:
// the first turns and max_tokens (see scannedMessages).
type messagesRoom struct {
	turns     [2]Message
	maxTokens int
}

// scanMessagesInto is scanMessages reading into r, if not nil.
func scanMessagesInto(data []byte, b *MessagesRequest, r *messagesRoom) bool {
	var s dialect.JSONScanner
	s.Init(data)
	if !s.ScanObject(messagesKeys, func(key []byte) bool { return messagesField(&s, key, b, r) }) {
		*b = MessagesRequest{}
		return false
	}
	if b.System != nil {
		b.System.unescape()
	}
	for i := range b.Messages {
		b.Messages[i].Content.unescape()
	}
	return true
}

// unescape turns content's texts, as content read them (views, left
// escaped), into their text (dialect.UnescapeView).
func (c *Content) unescape() {
	for i := range c.Blocks {
		c.Blocks[i].Text = dialect.UnescapeView(c.Blocks[i].Text)
	}
	if c.text != nil {
		*c.text = c.Blocks[0].Text
	}
}

// messagesKeys are the keys scanMessages reads, and those of a turn and
// of a text block.
var (
	messagesKeys = dialect.NewKeySet("model", "max_tokens", "messages", "system", "stop_sequences", "stream",
		"temperature", "top_p", "top_k")
	turnKeys  = dialect.NewKeySet("role", "content")
	blockKeys = dialect.NewKeySet("type", "text")
)

func messagesField(s *dialect.JSONScanner, key []byte, b *MessagesRequest, r *messagesRoom) (ok bool) {
	switch string(key) {
	case "model":
		b.Model, ok = s.Str()
	case "max_tokens":
		if r != nil {
			b.MaxTokens, ok = s.IntInto(&r.maxTokens)
		} else {
			b.MaxTokens, ok = s.IntPtr()
		}
	case "messages":
		var out []Message
		if r != nil {
			out = r.turns[:0]
		}
		b.Messages, ok = turns(s, out)
	case "system":
		var c Content
		if c, ok = content(s); ok {
			b.System = &c
		}
	case "stop_sequences":
		b.StopSequences, ok = strs(s)
	case "stream":
		b.Stream, ok = s.Bool()
	case "temperature":
		b.Temperature, ok = s.FloatPtr()
	case "top_p":
		b.TopP, ok = s.FloatPtr()
	case "top_k":
		b.TopK, ok = s.IntPtr()
	}
	return ok
}

// turns reads the messages (an empty array is empty, not nil, as
// encoding/json makes it), appended to out when it has room.
func turns(s *dialect.JSONScanner, out []Message) ([]Message, bool) {
	if cap(out) == 0 {
		out = make([]Message, 0, 4)
	}
	ok := s.Array(func() bool {
		var m Message
		ok := s.Fields(turnKeys, func(key []byte) (ok bool) {
			if string(key) == "role" {
				m.Role, ok = s.Str()
			} else {
				m.Content, ok = content(s)
			}
			return ok
		})
		out = append(out, m)
		return ok
	})
	return out, ok
}

// content reads a string, or an array of text blocks, as
// Content.UnmarshalJSON does, but for the texts: views of the body, left
// escaped (see scanMessages).
func content(s *dialect.JSONScanner) (Content, bool) {
	if s.Peek() == '"' {
		text, ok := s.StrView()
		return Content{Blocks: []Block{{Type: "text", Text: text}}, text: &text}, ok
	}
	blocks := make([]Block, 0, 1)
	ok := s.Array(func() bool {
		var b Block
		ok := s.Fields(blockKeys, func(key []byte) (ok bool) {
			if string(key) == "type" {
				b.Type, ok = s.Str()
			} else {
				b.Text, ok = s.StrView()
			}
			return ok
		})
		blocks = append(blocks, b)
		return ok
	})
	return Content{Blocks: blocks}, ok
}

// strs reads an array of strings.
func strs(s *dialect.JSONScanner) ([]string, bool) {
	out := []string{}
	ok := s.Array(func() bool {
		v, ok := s.Str()
		out = append(out, v)
		return ok
	})
	return out, ok
}
