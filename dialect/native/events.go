package native

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// eventWriter writes SSE data events, each with an id and a flush, and a
// keep-alive comment after a silence.
type eventWriter struct {
	mu    sync.Mutex
	w     http.ResponseWriter
	rc    *http.ResponseController
	buf   []byte
	id    int
	timer *time.Timer
	every time.Duration
	err   error
}

func newEventWriter(w http.ResponseWriter, keepAlive time.Duration) *eventWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	o := &eventWriter{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, 512), every: keepAlive}
	o.err = o.rc.Flush()
	if keepAlive > 0 {
		o.timer = time.AfterFunc(keepAlive, o.keepAlive)
	}
	return o
}

func (o *eventWriter) keepAlive() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil || o.timer == nil {
		return
	}
	if _, o.err = o.w.Write([]byte(": keep-alive\n\n")); o.err == nil {
		o.err = o.rc.Flush()
	}
	o.timer.Reset(o.every)
}

// data writes "id: N" and "data: p" and flushes.
func (o *eventWriter) data(p []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	o.id++
	b := append(o.buf[:0], "id: "...)
	b = strconv.AppendInt(b, int64(o.id), 10)
	b = append(b, "\ndata: "...)
	b = append(b, p...)
	b = append(b, '\n', '\n')
	o.buf = b
	if _, o.err = o.w.Write(b); o.err == nil {
		o.err = o.rc.Flush()
	}
	if o.timer != nil {
		o.timer.Reset(o.every)
	}
	return o.err
}

// stop ends keep-alives; nothing is written after it returns.
func (o *eventWriter) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	if o.err == nil {
		o.err = http.ErrHandlerTimeout
	}
}
