package openai

import (
	"context"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// wakeWaiter is a call's Waiter that takes an upstream's Prefetcher
// (dialect.WakesUp) and counts its wakes.
type wakeWaiter struct {
	up    dialect.Prefetcher
	wakes int
}

func (w *wakeWaiter) BeforeWait()                {}
func (w *wakeWaiter) AfterWait()                 { w.wakes++ }
func (w *wakeWaiter) Wakes(p dialect.Prefetcher) { w.up = p }

// TestStreamWakesUpWithItsState: a streamed answer's reader tells the
// call's Waiter when a read brought bytes, and the stream registers
// itself with it to be prefetched then; its Prefetch runs on the shape
// it recorded.
func TestStreamWakesUpWithItsState(t *testing.T) {
	c := `{"id":"x","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}`
	u := &rawUpstream{pieces: []string{"data: " + c + "\n\n", "data: " + c + "\n\n", "data: [DONE]\n\n"}}
	srv := u.start(t)
	p := NewProvider(Config{BaseURL: srv.URL + "/v1"})
	w := new(wakeWaiter)
	var ctx stream.WaitContext
	ctx.Set(context.Background(), w)
	s, err := p.Stream(&ctx, chatReq())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if w.up != dialect.Prefetcher(s.(*upstreamStream)) {
		t.Fatalf("registered %v, want the stream", w.up)
	}
	collectEvents(t, s)
	if w.wakes == 0 {
		t.Error("no wake after the reads that brought the answer")
	}
	w.up.Prefetch()
}
