package anthropic

import (
	"encoding/json"
	"slices"
	"strings"
	"unsafe"

	"github.com/runnel/runnel/dialect"
)

// liteEvent is a stream event parsed without reflection into storage the
// Decoder reuses: ev and the objects its pointers point to. Its strings
// are views of the event data, but for those the Decoder keeps or puts in
// events (texts, ids, names, arguments, stop reason and sequence), which
// are copies.
type liteEvent struct {
	ev    StreamEvent
	msg   MessageResponse
	block Block
	delta Delta
	usage Usage
	err   ErrorDetail
}

// parse parses data into l.ev as encoding/json would into a new
// StreamEvent. ok is false for anything it does not take (invalid JSON, a
// type it does not expect, a repeated key, a key that only folds to a
// known one, a message with content): the caller then decodes with
// encoding/json, which also words the error. textAt is where the string
// l.ev.Delta.Text came from begins, or -1.
//
// Besides sparing reflection and copies, it runs a few frames of about a
// hundred bytes deep, where encoding/json runs about 1 KiB a level of
// nesting: under the per-token chain that took an open stream's request
// goroutine past 8 KiB of stack (TestStreamStacksStayAt8KiB).
func (l *liteEvent) parse(data []byte) (textAt int, ok bool) {
	p := liteParser{EventScanner: dialect.EventScanner{S: unsafe.String(unsafe.SliceData(data), len(data))}, textAt: -1}
	l.ev = StreamEvent{}
	if !p.event(l) {
		return -1, false
	}
	p.WS()
	return p.textAt, p.I == len(p.S)
}

type liteParser struct {
	dialect.EventScanner
	textAt int // see parse
}

// keys walks an object whose fields are names: field parses the value of
// each key that is one of them. Other keys are skipped, but for those
// that fold to a name (encoding/json would take them for it), and so is
// a repeated name (which encoding/json merges or overrides): either ends
// the parse.
func (p *liteParser) keys(names []string, field func(key string) bool) bool {
	var seen uint32
	return p.Object(func(key string) bool {
		k := slices.Index(names, key)
		if k < 0 {
			return !dialect.MatchesAny(key, names...) && p.Skip()
		}
		if seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		return field(key)
	})
}

// The fields of each object parse reads, as keys takes them.
var (
	eventNames   = []string{"type", "index", "message", "content_block", "delta", "usage", "error"}
	messageNames = []string{"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
	usageNames   = []string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}
	blockNames   = []string{"type", "text", "thinking", "signature", "id", "name", "input", "tool_use_id", "content", "is_error"}
	deltaNames   = []string{"type", "text", "thinking", "signature", "partial_json", "stop_reason", "stop_sequence"}
	errorNames   = []string{"type", "message"}
)

func (p *liteParser) event(l *liteEvent) bool {
	ev := &l.ev
	return p.keys(eventNames, func(key string) bool {
		switch key {
		case "type":
			return p.strTo(&ev.Type, false)
		case "index":
			return p.Int(&ev.Index)
		case "message":
			return object(p, &ev.Message, &l.msg, p.message)
		case "content_block":
			return object(p, &ev.ContentBlock, &l.block, p.block)
		case "delta":
			return object(p, &ev.Delta, &l.delta, p.delta)
		case "usage":
			return object(p, &ev.Usage, &l.usage, p.usage)
		case "error":
			return object(p, &ev.Error, &l.err, p.errorDetail)
		}
		return false
	})
}

// object parses null (dst nil) or an object into *into (dst into).
func object[T any](p *liteParser, dst **T, into *T, fields func(*T) bool) bool {
	if p.Null() {
		*dst = nil
		return true
	}
	var zero T
	*into = zero
	*dst = into
	return fields(into)
}

func (p *liteParser) message(m *MessageResponse) bool {
	return p.keys(messageNames, func(key string) bool {
		switch key {
		case "id":
			return p.strTo(&m.ID, false)
		case "type":
			return p.strTo(&m.Type, false)
		case "role":
			return p.strTo(&m.Role, false)
		case "model":
			return p.strTo(&m.Model, false)
		case "content":
			// A message_start's content is empty; blocks are left to
			// encoding/json.
			if p.Null() {
				m.Content = nil
				return true
			}
			m.Content = []Block{}
			return p.Eat('[') && p.Eat(']')
		case "stop_reason":
			return p.strPtr(&m.StopReason)
		case "stop_sequence":
			return p.strPtr(&m.StopSequence)
		case "usage":
			return p.Null() || p.usage(&m.Usage)
		}
		return false
	})
}

func (p *liteParser) usage(u *Usage) bool {
	return p.keys(usageNames, func(key string) bool {
		switch key {
		case "input_tokens":
			return p.Int(&u.InputTokens)
		case "output_tokens":
			return p.Int(&u.OutputTokens)
		case "cache_creation_input_tokens":
			return p.Int(&u.CacheCreationInputTokens)
		case "cache_read_input_tokens":
			return p.Int(&u.CacheReadInputTokens)
		}
		return false
	})
}

func (p *liteParser) block(b *Block) bool {
	return p.keys(blockNames, func(key string) bool {
		switch key {
		case "type":
			return p.strTo(&b.Type, false)
		case "text":
			return p.strTo(&b.Text, true)
		case "thinking":
			return p.strTo(&b.Thinking, true)
		case "signature":
			return p.strTo(&b.Signature, false)
		case "id":
			return p.strTo(&b.ID, true)
		case "name":
			return p.strTo(&b.Name, true)
		case "input":
			start := p.I
			if !p.Skip() {
				return false
			}
			b.Input = json.RawMessage(p.S[start:p.I])
			return true
		case "tool_use_id":
			return p.strTo(&b.ToolUseID, false)
		case "content":
			// Blocks inside a block are left to encoding/json.
			b.Content = nil
			return p.Null()
		case "is_error":
			if p.Lit("true") {
				b.IsError = true
				return true
			}
			if p.Lit("false") {
				b.IsError = false
				return true
			}
			return p.Null()
		}
		return false
	})
}

func (p *liteParser) delta(d *Delta) bool {
	return p.keys(deltaNames, func(key string) bool {
		switch key {
		case "type":
			return p.strTo(&d.Type, false)
		case "text":
			at := p.I
			if !p.strTo(&d.Text, true) {
				return false
			}
			if p.S[at] == '"' {
				p.textAt = at
			}
			return true
		case "thinking":
			return p.strTo(&d.Thinking, true)
		case "signature":
			return p.strTo(&d.Signature, false)
		case "partial_json":
			return p.strTo(&d.PartialJSON, true)
		case "stop_reason":
			return p.strTo(&d.StopReason, true)
		case "stop_sequence":
			if !p.strPtr(&d.StopSequence) {
				return false
			}
			if d.StopSequence != nil {
				s := strings.Clone(*d.StopSequence)
				d.StopSequence = &s
			}
			return true
		}
		return false
	})
}

func (p *liteParser) errorDetail(e *ErrorDetail) bool {
	return p.keys(errorNames, func(key string) bool {
		switch key {
		case "type":
			return p.strTo(&e.Type, false)
		case "message":
			return p.strTo(&e.Message, true)
		}
		return false
	})
}

// strTo parses a string field (null leaves dst) into dst, a copy if own,
// else a view of the data.
func (p *liteParser) strTo(dst *string, own bool) bool {
	if !strField(&p.EventScanner, dst) {
		return false
	}
	if own {
		*dst = strings.Clone(*dst)
	}
	return true
}

// strPtr parses null (dst nil) or a string (a view of the data).
func (p *liteParser) strPtr(dst **string) bool {
	if p.Null() {
		*dst = nil
		return true
	}
	s, ok := p.Str()
	*dst = &s
	return ok
}
