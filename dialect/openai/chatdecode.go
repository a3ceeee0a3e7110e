package openai

import (
	"github.com/runnel/runnel/dialect"
)

// scanChat decodes the chat request most clients send into c without
// encoding/json: an object of the keys below, messages of a role, a
// string content and a name, strings whose escapes are simple, no nulls,
// no key twice. Anything else (another key, a key spelled in other case,
// content parts, tools…) returns false with c zero, as it must be on
// entry, and encoding/json decodes the body as before: the scanner only
// ever takes bodies that encoding/json decodes to the same value
// (FuzzScanChat).
func scanChat(data []byte, c *ChatRequest) bool { return scanChatInto(data, c, nil) }

// chatRoom is room its caller has for what scanChatInto reads: the first
// messages and the stream options (see scannedChat).
type chatRoom struct {
	msgs [2]Message
	opts StreamOptions
}

// scanChatInto is scanChat reading into r, if not nil.
func scanChatInto(data []byte, c *ChatRequest, r *chatRoom) bool {
	var s dialect.JSONScanner
	s.Init(data)
	if !s.ScanObject(chatKeys, func(key []byte) bool { return chatField(&s, key, c, r) }) {
		*c = ChatRequest{}
		return false
	}
	return true
}

// chatKeys are the keys scanChat reads, and those of a message.
var (
	chatKeys = dialect.NewKeySet("model", "messages", "stream", "stream_options", "max_tokens",
		"max_completion_tokens", "temperature", "top_p", "n", "seed", "presence_penalty",
		"frequency_penalty", "user")
	messageKeys       = dialect.NewKeySet("role", "content", "name")
	streamOptionsKeys = dialect.NewKeySet("include_usage")
)

func chatField(s *dialect.JSONScanner, key []byte, c *ChatRequest, r *chatRoom) (ok bool) {
	switch string(key) {
	case "model":
		c.Model, ok = s.Str()
	case "user":
		c.User, ok = s.Str()
	case "stream":
		c.Stream, ok = s.Bool()
	case "messages":
		var msgs []Message
		if r != nil {
			msgs = r.msgs[:0]
		}
		c.Messages, ok = messages(s, msgs)
	case "stream_options":
		var o *StreamOptions
		if r != nil {
			o = &r.opts
		} else {
			o = new(StreamOptions)
		}
		c.StreamOptions, ok = o, streamOptions(s, o)
	case "max_tokens":
		c.MaxTokens, ok = s.IntPtr()
	case "max_completion_tokens":
		c.MaxCompletionTokens, ok = s.IntPtr()
	case "n":
		c.N, ok = s.IntPtr()
	case "seed":
		var n int64
		if n, ok = s.Int(); ok {
			c.Seed = &n
		}
	case "temperature":
		c.Temperature, ok = s.FloatPtr()
	case "top_p":
		c.TopP, ok = s.FloatPtr()
	case "presence_penalty":
		c.PresencePenalty, ok = s.FloatPtr()
	case "frequency_penalty":
		c.FrequencyPenalty, ok = s.FloatPtr()
	}
	return ok
}

// messages reads an array of messages (an empty one is empty, not nil,
// as encoding/json makes it), appended to msgs when it has room.
func messages(s *dialect.JSONScanner, msgs []Message) ([]Message, bool) {
	if cap(msgs) == 0 {
		msgs = make([]Message, 0, 4)
	}
	ok := s.Array(func() bool {
		var m Message
		ok := s.Fields(messageKeys, func(key []byte) (ok bool) {
			switch string(key) {
			case "role":
				m.Role, ok = s.Str()
			case "content":
				m.Content, ok = s.RawString()
			case "name":
				m.Name, ok = s.Str()
			}
			return ok
		})
		msgs = append(msgs, m)
		return ok
	})
	return msgs, ok
}

// streamOptions reads stream_options into o.
func streamOptions(s *dialect.JSONScanner, o *StreamOptions) bool {
	return s.Fields(streamOptionsKeys, func([]byte) (ok bool) {
		o.IncludeUsage, ok = s.Bool()
		return ok
	})
}
