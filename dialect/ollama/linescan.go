package ollama

import (
	"strings"
	"unsafe"

	"github.com/runnel/runnel/dialect"
)

// liteLine is what a per-token line carries: a chat line's message of
// role, content and thinking, or a generate line's response and thinking,
// and the final line's done, done_reason and counts; no tool calls, images
// or error. scanLine reads such lines without reflection; anything else
// is left to encoding/json (DecodeChunk), which also words the error.
// Each field is what Chunk would hold after json.Unmarshal.
type liteLine struct {
	thinking, response      string
	hasResponse, hasMessage bool
	msgContent, msgThinking string
	done                    bool
	m                       Metrics
}

// chunkKeys and messageKeys are the keys of Chunk and of Message (json
// names): a key encoding/json would take for one of them, but not
// exactly as scanLine reads it, sends the line to encoding/json.
var (
	chunkKeys = []string{"model", "created_at", "message", "response", "thinking", "done", "error",
		"done_reason", "total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"}
	messageKeys = []string{"role", "content", "thinking", "images", "tool_calls", "tool_name", "tool_call_id"}
)

// scanLine parses line as a liteLine. ok is false when line is not valid
// JSON or holds anything beyond what liteLine carries (or a key twice,
// which encoding/json merges). The strings kept are copied out of line,
// which is the reader's buffer.
func scanLine(line []byte) (c liteLine, ok bool) {
	p := lineScanner{EventScanner: dialect.EventScanner{S: unsafe.String(unsafe.SliceData(line), len(line))}}
	ok = p.Fields(chunkKeys, chunkKey, func(key string) bool { return p.chunkField(key, &c) })
	if p.WS(); !ok || p.I != len(p.S) {
		return liteLine{}, false
	}
	c.thinking, c.response = strings.Clone(c.thinking), strings.Clone(c.response)
	c.msgContent, c.msgThinking = strings.Clone(c.msgContent), strings.Clone(c.msgThinking)
	return c, true
}

// chunkKey is key's index in chunkKeys, or -1: a few comparisons, where
// slices.Index compared a line's keys with a dozen names each.
func chunkKey(key string) int {
	switch key {
	case "model":
		return 0
	case "created_at":
		return 1
	case "message":
		return 2
	case "response":
		return 3
	case "thinking":
		return 4
	case "done":
		return 5
	case "error":
		return 6
	case "done_reason":
		return 7
	case "total_duration":
		return 8
	case "load_duration":
		return 9
	case "prompt_eval_count":
		return 10
	case "prompt_eval_duration":
		return 11
	case "eval_count":
		return 12
	case "eval_duration":
		return 13
	}
	return -1
}

// messageKey is key's index in messageKeys, or -1.
func messageKey(key string) int {
	switch key {
	case "role":
		return 0
	case "content":
		return 1
	case "thinking":
		return 2
	case "images":
		return 3
	case "tool_calls":
		return 4
	case "tool_name":
		return 5
	case "tool_call_id":
		return 6
	}
	return -1
}

type lineScanner struct{ dialect.EventScanner }

func (p *lineScanner) chunkField(key string, c *liteLine) bool {
	var ignored string
	switch key {
	case "model", "created_at":
		return p.StrOrNull(&ignored)
	case "message":
		if p.Null() {
			return true
		}
		c.hasMessage = true
		return p.message(c)
	case "response":
		if p.Null() {
			return true
		}
		c.hasResponse = true
		s, ok := p.Str()
		c.response = s
		return ok
	case "thinking":
		return p.StrOrNull(&c.thinking)
	case "done":
		return p.Bool(&c.done)
	case "done_reason":
		return p.StrOrNull(&c.m.DoneReason)
	case "total_duration":
		return p.int64(&c.m.TotalDuration)
	case "load_duration":
		return p.int64(&c.m.LoadDuration)
	case "prompt_eval_count":
		return p.Int(&c.m.PromptEvalCount)
	case "prompt_eval_duration":
		return p.int64(&c.m.PromptEvalDuration)
	case "eval_count":
		return p.Int(&c.m.EvalCount)
	case "eval_duration":
		return p.int64(&c.m.EvalDuration)
	}
	return false // error, and what else scanLine does not take
}

// message parses a message of role, content and thinking (tool_name and
// tool_call_id, which an answer does not use, checked and dropped);
// images and tool calls only as null.
func (p *lineScanner) message(c *liteLine) bool {
	var ignored string
	return p.Fields(messageKeys, messageKey, func(key string) bool {
		switch key {
		case "content":
			return p.StrOrNull(&c.msgContent)
		case "thinking":
			return p.StrOrNull(&c.msgThinking)
		case "images", "tool_calls":
			return p.Null()
		}
		return p.StrOrNull(&ignored)
	})
}

// int64 parses an integer of at most 18 digits (Int's): an int is 64 bits
// wherever Runnel is built.
func (p *lineScanner) int64(dst *int64) bool {
	n := int(*dst)
	if !p.Int(&n) {
		return false
	}
	*dst = int64(n)
	return true
}
