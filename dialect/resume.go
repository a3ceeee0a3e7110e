package dialect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/runnel/runnel/resume"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// Headers of resumable streams.
const (
	// ResumableHeader ("true") opts a streamed request in to resumption.
	ResumableHeader = "Runnel-Resumable"
	// StreamIDHeader names a resumable stream in its response.
	StreamIDHeader = "Runnel-Stream-Id"
)

// Resumer serves resumable SSE streams for the dialect servers. One is
// shared by all of them (one registry, one owner function). The zero value
// is not usable; see NewResumer.
type Resumer struct {
	Registry *resume.Registry
	// Owner names the caller a stream belongs to (only the same caller
	// may resume it); "" when auth is off. nil means "" for everyone.
	Owner     func(ctx context.Context) string
	KeepAlive time.Duration // for the clients' writers, as sse.Options
}

// NewResumer returns a Resumer over a new registry.
func NewResumer(o resume.Options, owner func(ctx context.Context) string) *Resumer {
	return &Resumer{Registry: resume.NewRegistry(o), Owner: owner}
}

// Wants reports whether r opts in to resumption.
func Wants(r *http.Request) bool {
	b, _ := strconv.ParseBool(r.Header.Get(ResumableHeader))
	return b
}

// LastEventID is r's Last-Event-ID header, or its last_event_id query
// parameter for clients that cannot set headers.
func LastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("last_event_id")
}

func (rs *Resumer) owner(ctx context.Context) string {
	if rs.Owner == nil {
		return ""
	}
	return rs.Owner(ctx)
}

// Begin opens a session (see Open) when resumable; else it returns a nil
// session and r's own context.
func (rs *Resumer) Begin(r *http.Request, kind string, resumable bool) (*resume.Session, context.Context, *stream.Error) {
	if !resumable {
		return nil, r.Context(), nil
	}
	return rs.Open(r, kind)
}

// Open starts a session of kind (the endpoint: a stream resumes only where
// it started) for r's caller. The call must be started with ctx, which is
// r's context without its cancellation: the call outlives a broken
// connection until the grace period runs out. If the call fails to start,
// Discard the session.
func (rs *Resumer) Open(r *http.Request, kind string) (*resume.Session, context.Context, *stream.Error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	sess, err := rs.Registry.Open(rs.owner(r.Context()), kind, cancel)
	if err != nil {
		cancel()
		return nil, nil, stream.Errorf(stream.CodeOverloaded, "too many resumable streams; retry later, or without the %s header", ResumableHeader)
	}
	return sess, ctx, nil
}

// Run runs produce on its own goroutine, writing the stream into sess's log
// through out, and serves the log to w until the stream ends, the client
// goes or another client takes over. produce owns the call: it must close
// it before returning.
func (rs *Resumer) Run(w http.ResponseWriter, r *http.Request, sess *resume.Session, produce func(out *sse.Writer)) {
	c, err := sess.Attach(0)
	if err != nil { // a fresh session: not reached
		sess.Discard()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	go func() {
		defer sess.Finish()
		defer func() {
			// In a handler a panic costs one request; here it would take
			// the server down.
			if p := recover(); p != nil {
				slog.Error("resumable stream panicked", "stream", sess.ID(), "panic", p)
			}
		}()
		produce(sse.NewLogWriter(sess, sse.Options{IDPrefix: sess.ID() + "-"}))
	}()
	rs.follow(w, r, sess.ID(), c)
}

// Reconnect answers r with Resume if it is a reconnect (it carries a
// Last-Event-ID), reporting whether it was; a non-nil error is for the
// dialect to write in its own shape.
func (rs *Resumer) Reconnect(w http.ResponseWriter, r *http.Request, kind string) (bool, *stream.Error) {
	last := LastEventID(r)
	if last == "" {
		return false, nil
	}
	return true, rs.Resume(w, r, kind, last)
}

// Resume answers a reconnect carrying lastID (see LastEventID) to an
// endpoint of kind: the events after it, then the live stream to its end.
// A caller that has everything gets 204 (which also stops EventSource
// reconnecting). The request's body is ignored. A non-nil error is for the
// dialect to write in its own shape.
func (rs *Resumer) Resume(w http.ResponseWriter, r *http.Request, kind, lastID string) *stream.Error {
	id, seq, ok := resume.ParseID(lastID)
	if !ok {
		return stream.InvalidParam("Last-Event-ID", "Last-Event-ID %q is not an event id of a resumable stream (rs_<32 hex digits>-<n>)", lastID)
	}
	sess, err := rs.Registry.Get(id, rs.owner(r.Context()), kind)
	if err != nil {
		return rs.resumeError(id, seq, err)
	}
	if sess.Done(seq) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	c, err := sess.Attach(seq)
	if err != nil {
		return rs.resumeError(id, seq, err)
	}
	rs.follow(w, r, id, c)
	return nil
}

func (rs *Resumer) resumeError(id string, seq uint64, err error) *stream.Error {
	o := rs.Registry.Options()
	switch {
	case errors.Is(err, resume.ErrTooLarge):
		return stream.Errorf(stream.CodeConflict, "stream %s can no longer be resumed: its output outgrew the %d-byte replay log", id, o.MaxBytes)
	case errors.Is(err, resume.ErrBadPosition):
		return stream.InvalidParam("Last-Event-ID", "stream %s has sent no event %d", id, seq)
	}
	return rs.notFound(id, "Last-Event-ID")
}

func (rs *Resumer) notFound(id, param string) *stream.Error {
	o := rs.Registry.Options()
	return &stream.Error{Code: stream.CodeNotFound, Param: param, Message: fmt.Sprintf(
		"stream %s not found: unknown, not yours, cancelled, or expired (a stream is kept %s after it ends, and cancelled %s after its client left)",
		id, o.Retain, o.Grace)}
}

// Cancel cancels the resumable stream id of ctx's caller, whatever its
// endpoint: the client stopped it on purpose, so its generation need not
// run on for the grace period. A non-nil error is for the dialect to write
// in its own shape.
func (rs *Resumer) Cancel(ctx context.Context, id string) *stream.Error {
	if !resume.ValidID(id) {
		return stream.InvalidParam("id", "%q is not the id of a resumable stream (rs_<32 hex digits>, from the %s header)", id, StreamIDHeader)
	}
	if rs.Registry.Cancel(id, rs.owner(ctx)) != nil {
		return rs.notFound(id, "id")
	}
	return nil
}

// follow writes c's frames to w as they come.
func (rs *Resumer) follow(w http.ResponseWriter, r *http.Request, id string, c *resume.Client) {
	defer c.Close()
	w.Header().Set(StreamIDHeader, id)
	out := sse.NewWriter(w, sse.Options{KeepAlive: rs.KeepAlive})
	defer out.Close()
	var frames [][]byte
	for {
		var err error
		frames, err = c.Next(r.Context(), frames[:0])
		for _, f := range frames {
			if out.WriteFrame(f) != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
