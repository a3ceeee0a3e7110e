package gemini

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// An upstream that holds its body open after the chunk with the finish
// reason (Gemini sends no end event: the answer ends with the body) does
// not hold the stream's end for ever: after DrainWait without another
// chunk or the body's end, the answer ends with the usage and finish it
// has, a chunk's usage after the finish reason included. The upstream
// holds its body until the stream ended.
func TestHeldBodyEndsAfterItsFinish(t *testing.T) {
	later := `data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}` + "\r\n\r\n"
	for _, c := range []struct {
		name, answer string
		completion   int
	}{{"finish", benchAnswer, 1}, {"usage after finish", benchAnswer + later, 2}} {
		t.Run(c.name, func(t *testing.T) { heldAfterFinish(t, c.answer, c.completion) })
	}
}

func heldAfterFinish(t *testing.T, answer string, completion int) {
	ended := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, answer)
		w.(http.Flusher).Flush()
		select {
		case <-ended:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(ended)
	s, err := NewProvider(Config{BaseURL: ts.URL}).Stream(context.Background(), &stream.Request{Model: "m", Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		evs []stream.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		evs, err := dialecttest.ReadAll(s)
		done <- result{evs, err}
	}()
	var got result
	select {
	case got = <-done:
	case <-time.After(30 * dialect.DrainWait): // a deadlock guard, not a measure
		s.Close()
		t.Fatal("the stream waited for the upstream's body to end")
	}
	want := []stream.Event{stream.Delta("Hello"), stream.UsageEvent(stream.Usage{PromptTokens: 3, CompletionTokens: completion}), stream.Finished(stream.FinishStop)}
	if got.err != nil || !reflect.DeepEqual(got.evs, want) {
		t.Errorf("events %v, %v; want %v", got.evs, got.err, want)
	}
}
