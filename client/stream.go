package client

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/runnel/runnel/sse"
)

// Event is one piece of a stream.
type Event struct {
	Text    string // content delta
	Channel string // "output" or "thinking"
	// ToolCalls holds tool-call fragments in OpenAI's streaming shape.
	ToolCalls []ToolCallDelta
	// Usage is set on the last event of a stream that reported usage.
	Usage *Usage
	// FinishReason is set on the event that carries it.
	FinishReason string
}

// ToolCallDelta is a fragment of a tool call: the first fragment of call
// Index carries ID and Name, later ones append to Arguments.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// Usage counts a call's tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Metrics of one stream, measured by the client.
type Metrics struct {
	TTFC            time.Duration // time to first content chunk
	Total           time.Duration // from sending the request to the end of the stream
	Chunks          int           // content chunks received
	ChunksPerSecond float64       // after the first chunk
	MeanChunkGap    time.Duration // mean time between content chunks
}

// Stream is a streamed call. Read it once with Events; Metrics, Usage and
// FinishReason are complete after the loop.
type Stream struct {
	// open sends the request; lastID, when not "", resumes the stream.
	open    func(ctx context.Context, lastID string) (*http.Response, error)
	resumes int // reconnects allowed
	// abandon cancels resumable stream id on the server when the caller
	// stops reading (nil when not resumable).
	abandon func(id string)
	// decode decodes an event's data, which is the reader's buffer: it
	// keeps no view of it.
	decode func(s *Stream, data []byte) (ev Event, emit, done bool, err error)
	ctx    context.Context

	start, first, last, end time.Time
	chunks                  int
	usage                   *Usage
	finish                  string
}

func newStream(ctx context.Context, open func(context.Context, string) (*http.Response, error), decode func(*Stream, []byte) (Event, bool, bool, error)) *Stream {
	return &Stream{open: open, decode: decode, ctx: ctx}
}

// Events returns the stream's events as an iterator. A failure ends it with
// a non-nil error: *Error for an error the server answered (before or during
// the stream), *ConnectionError for a network failure or a cut. Breaking out
// of the loop cancels the request; so does cancelling the context, and for
// a resumable stream either also sends DELETE /api/v1/streams/{id} (a
// round trip of at most a few seconds), since the server cannot tell a
// stop from a cut and would run the generation on for its grace period.
func (s *Stream) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		s.start = time.Now()
		defer func() { s.end = time.Now() }()
		resp, err := s.open(ctx, "")
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer func() { resp.Body.Close() }()
		// The reader's buffer is pooled: given back at the end, it is the
		// next stream's. Its events are read in place (NextRaw), decoded
		// before the next.
		var r sse.Reader
		r.Init(resp.Body)
		defer r.Release()
		var lastID string // of the last event, across reconnects
		streamID := resp.Header.Get("Runnel-Stream-Id")
		// stop is the caller abandoning the stream (never a cut).
		stop := func() {
			if s.abandon == nil {
				return
			}
			id := streamID
			if i := strings.LastIndexByte(lastID, '-'); id == "" && i > 0 {
				id = lastID[:i]
			}
			if strings.HasPrefix(id, "rs_") {
				s.abandon(id)
			}
		}
		for resumed := 0; ; {
			msg, err := r.NextRaw()
			if err != nil {
				if ctx.Err() != nil {
					stop()
					yield(Event{}, ctx.Err())
					return
				}
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				// A resumable stream's ids start "rs_": reconnect and
				// carry on after the last event.
				if resumed < s.resumes && strings.HasPrefix(lastID, "rs_") {
					resumed++
					resp.Body.Close()
					if resp, err = s.open(ctx, lastID); err == nil {
						if resp.StatusCode == http.StatusNoContent {
							return // the server says we have every event
						}
						r.Init(resp.Body) // the failed read gave its buffer back
						continue
					}
					resp = &http.Response{Body: http.NoBody}
					if ctx.Err() != nil {
						stop()
					}
					yield(Event{}, err)
					return
				}
				yield(Event{}, &ConnectionError{MidStream: true, Err: err})
				return
			}
			if id := r.LastID(); id != "" {
				lastID = id
			}
			ev, emit, done, err := s.decode(s, msg.Data)
			if err != nil {
				yield(Event{}, err)
				return
			}
			if emit {
				if ev.Text != "" {
					s.chunk()
				}
				if !yield(ev, nil) {
					stop()
					return
				}
			}
			if done {
				return
			}
		}
	}
}

func (s *Stream) chunk() {
	now := time.Now()
	if s.chunks == 0 {
		s.first = now
	}
	s.last = now
	s.chunks++
}

// Metrics returns the stream's client-side metrics.
func (s *Stream) Metrics() Metrics {
	m := Metrics{Chunks: s.chunks}
	end := s.end
	if end.IsZero() {
		end = time.Now()
	}
	if !s.start.IsZero() {
		m.Total = end.Sub(s.start)
	}
	if s.chunks > 0 {
		m.TTFC = s.first.Sub(s.start)
	}
	if s.chunks > 1 {
		span := s.last.Sub(s.first)
		m.MeanChunkGap = span / time.Duration(s.chunks-1)
		if span > 0 {
			m.ChunksPerSecond = float64(s.chunks-1) / span.Seconds()
		}
	}
	return m
}

// Usage returns the usage the server reported, or nil.
func (s *Stream) Usage() *Usage { return s.usage }

// FinishReason returns why the stream ended ("stop", "length", …).
func (s *Stream) FinishReason() string { return s.finish }

// Text reads the whole stream and returns the output channel joined.
func (s *Stream) Text() (string, error) {
	var out []byte
	for ev, err := range s.Events() {
		if err != nil {
			return string(out), err
		}
		if ev.Channel != "thinking" {
			out = append(out, ev.Text...)
		}
	}
	return string(out), nil
}

// midStreamError decodes an error event's data.
func midStreamError(data []byte) *Error {
	e := parseError(data, 0)
	e.MidStream = true
	return e
}
