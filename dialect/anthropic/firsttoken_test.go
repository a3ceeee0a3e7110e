package anthropic

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/sse"
)

// TestHopWritesEachEventAtOnce: through the gateway, the Anthropic hop's
// server writes message_start as soon as the upstream's headers arrive
// (before the upstream's own message_start), and the first token (and
// each one after) as soon as it arrives, holding nothing for a later
// event: the upstream sends each event only once the client has read
// the one before, so a hop waiting for more would never finish.
func TestHopWritesEachEventAtOnce(t *testing.T) {
	const tokens = 5
	seen := make(chan string) // client → upstream: what arrived
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		rc.Flush() // the headers alone
		wait := func(want string) bool {
			select {
			case got := <-seen:
				if got != want {
					t.Errorf("the client read %s, want %s", got, want)
				}
				return true
			case <-r.Context().Done():
				return false
			}
		}
		if !wait("message_start") {
			return
		}
		io.WriteString(w, "event: message_start\n"+`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}`+"\n\n")
		io.WriteString(w, "event: ping\ndata: {\"type\": \"ping\"}\n\n")
		io.WriteString(w, "event: content_block_start\n"+`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n")
		for i := range tokens {
			fmt.Fprintf(w, "event: content_block_delta\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"t%d "}}`+"\n\n", i)
			rc.Flush()
			if !wait(fmt.Sprintf("t%d ", i)) {
				return
			}
		}
		io.WriteString(w, "event: content_block_stop\n"+`data: {"type":"content_block_stop","index":0}`+"\n\n")
		io.WriteString(w, "event: message_delta\n"+`data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`+"\n\n")
		io.WriteString(w, "event: message_stop\n"+`data: {"type":"message_stop"}`+"\n\n")
	}))
	defer upstream.Close()
	router := gateway.NewStaticRouter()
	router.Register("up", NewProvider(Config{BaseURL: upstream.URL}))
	mux := http.NewServeMux()
	NewServer(gateway.New(gateway.Options{Router: router}), Options{}).Register(mux)
	hop := httptest.NewServer(mux)
	defer hop.Close()

	// Guards against a deadlock (a hop holding an event back) hanging the
	// test; it is not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", hop.URL+"/v1/messages",
		strings.NewReader(`{"model":"up/m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tell := func(what string) {
		select {
		case seen <- what:
		case <-ctx.Done():
			t.Fatalf("the upstream stopped waiting for %s", what)
		}
	}
	r := sse.NewReader(resp.Body)
	var names []string
	texts := 0
	for {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("after %v: %v", names, err)
		}
		names = append(names, ev.Event)
		switch ev.Event {
		case "message_start":
			tell("message_start")
		case "content_block_delta":
			_, text, _ := strings.Cut(ev.Data, `"text":"`)
			text, _, _ = strings.Cut(text, `"`)
			if want := fmt.Sprintf("t%d ", texts); text != want {
				t.Fatalf("delta %d is %q, want %q", texts, text, want)
			}
			texts++
			tell(text)
		}
		if ev.Event == "message_stop" {
			break
		}
	}
	want := "message_start ping content_block_start" + strings.Repeat(" content_block_delta", tokens) + " content_block_stop message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("events %s\nwant %s", got, want)
	}
}
