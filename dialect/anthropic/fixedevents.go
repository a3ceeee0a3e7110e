package anthropic

import (
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// Of a stream's once-a-call events, four have the same bytes in every
// stream but for a block's index: ping (whatever its data: Decode takes
// any), a text block's start and stop, and message_stop, as Runnel's own
// server and Anthropic's API write them. NextRaw costs each about a
// thousand instructions: its lines searched for their ends, its event
// name made a string (an allocation, as each event's name differs from
// the last's), then Decode's look at its name and bytes. Matched as
// sse.Shapes (sse.Reader.NextShaped, the token path's way) they cost one
// pass over their bytes and no allocation.
//
// A shape takes a run of bytes of a set between its fixed head and
// tail: a ping's data (any line), a block's index (digits), or
// message_stop's last byte ('}'). fixed checks the run as callEvent reads
// it; an event a shape took whose run is not that (an index of 19 digits,
// "}}") is decoded from its bytes as before. Which shapes are tried
// depends on the event before (Decoder.want): after message_start a ping
// and a text block's start, in either order; after message_delta,
// message_stop; after a text block's start, its first delta, by the
// shape its index makes (expectText); after that delta, once, the
// block's stop. The token path reads the deltas that follow (plain
// texts), and the first event it leaves to next is the block's stop
// unless a text with escapes came first: a miss, paid once a block (about
// 150 instructions; tried before every delta next reads, it would be
// paid by each, BenchmarkEscapedDeltas). Nothing else is tried before a
// text delta.
var (
	pingShape  = newShape("ping", "", "")
	startShape = newShape("content_block_start", `{"type":"content_block_start","index":`, `,"content_block":{"type":"text","text":""}}`)
	stopShape  = newShape("message_stop", `{"type":"message_stop"`, "")
	blockStop  = newShape("content_block_stop", `{"type":"content_block_stop","index":`, "}")
)

// fixedSet is a set of the fixed events, the bits below.
type fixedSet uint8

const (
	wantPing fixedSet = 1 << iota
	wantStart
	wantStop
	wantText // a text delta of the shape the block's start made (expectText)
	wantBlockStop
)

// The runs of the shapes: a line's bytes, an index's digits, a closing
// brace.
var lineRun, digitRun, braceRun = func() (l, d, b [256]bool) {
	for c := range l {
		l[c] = c != '\n' && c != '\r'
	}
	for c := '0'; c <= '9'; c++ {
		d[c] = true
	}
	b['}'] = true
	return l, d, b
}()

func newShape(name, head, tail string) *sse.Shape {
	s := new(sse.Shape)
	s.Set(name, []byte(head), []byte(tail))
	return s
}

// fixed reads the next event if it is one of the fixed events e.d wants:
// its events, and true. When ok is false it read nothing (NextRaw reads
// the event).
func (e *events) fixed() (evs []stream.Event, ok bool, err error) {
	d := &e.d
	want := d.want
	d.want = 0
	if want&wantPing != 0 {
		if _, ok := e.r.NextShaped(pingShape, &lineRun); ok {
			d.want = want &^ wantPing
			return nil, true, nil
		}
	}
	if want&wantStart != 0 {
		if run, ok := e.r.NextShaped(startShape, &digitRun); ok {
			d.want = want &^ wantStart // the API's ping may follow
			if index(run) {
				d.expectText(run)
				return nil, true, nil
			}
			evs, err := d.decodeShaped("content_block_start", startShape, run)
			return evs, true, err
		}
	}
	if want&wantText != 0 {
		if text, ok := d.text.str.Token(e.r); ok {
			d.want = wantBlockStop
			return d.delta(d.text.texts.Keep(text)), true, nil // text is the reader's buffer
		}
	}
	if want&wantBlockStop != 0 {
		if run, ok := e.r.NextShaped(blockStop, &digitRun); ok {
			if index(run) {
				return nil, true, nil
			}
			evs, err := d.decodeShaped("content_block_stop", blockStop, run)
			return evs, true, err
		}
	}
	if want&wantStop != 0 {
		if run, ok := e.r.NextShaped(stopShape, &braceRun); ok {
			if len(run) == 1 {
				return d.stop(), true, nil
			}
			evs, err := d.decodeShaped("message_stop", stopShape, run)
			return evs, true, err
		}
	}
	return nil, false, nil
}

// index reports whether run, a shape's digits, is an index as callEvent
// reads one (cursor.uint).
func index(run []byte) bool {
	return len(run) <= 18 && (len(run) == 1 || run[0] != '0')
}

// decodeShaped decodes the event named name that sh took with run, an
// unusual one of a fixed event's shape. Out of line: inlined in fixed,
// its four calls were most of fixed's code, between the checks a call
// runs on every fixed event.
//
//go:noinline
func (d *Decoder) decodeShaped(name string, sh *sse.Shape, run []byte) ([]stream.Event, error) {
	return d.Decode(name, shaped(sh, run))
}

// shaped is the data of an event sh took with run: its head, the run and
// its tail (a copy: rare).
func shaped(sh *sse.Shape, run []byte) []byte {
	head, tail := sh.Data()
	return append(append(append([]byte(nil), head...), run...), tail...)
}

// expectText records as the text shape (textShape) the one a text block
// of index index has in Runnel's server and the API, before its first
// delta: the first is then read by it too (wantText), not by NextRaw and
// callEvent. A first delta of another shape is read as before, and
// records its own.
func (d *Decoder) expectText(index []byte) {
	var buf [128]byte
	b := append(append(append(buf[:0], `{"type":"content_block_delta","index":`...), index...), `,"delta":{"type":"text_delta","text":""}}`...)
	d.text.set("content_block_delta", b, len(b)-len(`""}}`))
	d.want |= wantText
}
