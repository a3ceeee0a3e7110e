package gateway_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/mock"
	"github.com/runnel/runnel/stream"
)

// viewedMemory is a request's memory as a dialect offers it: the texts
// are views of buf, which Release overwrites (as a body handed to the
// next call would be).
type viewedMemory struct {
	mu       sync.Mutex
	buf      []byte
	released int
}

func (m *viewedMemory) Release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.released++
	for i := range m.buf {
		m.buf[i] = 0xFE
	}
}

func (m *viewedMemory) count() int { m.mu.Lock(); defer m.mu.Unlock(); return m.released }

// viewedChat is longChat(model) with its texts views of mem's buffer,
// and the texts as copies of their own.
func viewedChat(model string) (*stream.Request, *viewedMemory, []string) {
	req := longChat(model)
	var texts []string
	for _, m := range req.Messages {
		texts = append(texts, m.Content)
	}
	mem := &viewedMemory{buf: []byte(strings.Join(texts, ""))}
	at := 0
	for i, t := range texts {
		req.Messages[i].Content = unsafe.String(&mem.buf[at], len(t))
		at += len(t)
	}
	return req, mem, texts
}

// encodes is an upstream provider as the contract asks: it copies the
// texts it sends (noting them), says the request is encoded, then starts
// its upstream (mock: with a request without texts).
type encodes struct {
	mu   sync.Mutex
	got  [][]string
	serv stream.Provider
}

func (e *encodes) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	var sent []string
	for _, m := range req.Messages {
		sent = append(sent, strings.Clone(m.Content))
	}
	e.mu.Lock()
	e.got = append(e.got, sent)
	e.mu.Unlock()
	up := *req
	up.Messages = nil
	gateway.RequestEncoded(ctx)
	return e.serv.Stream(ctx, &up)
}

// TestRequestMemoryGivenBackOnlyWhenNothingReadsIt holds the contract of
// gateway.WithRequestMemory: the memory goes back once the provider has
// encoded the request, only when nothing else reads it later (an
// Admission's record, a fallback's next target, a counter by text), once;
// every target gets the whole request; the record's usage estimate is
// the one the whole request gives; the record and Call let go of the
// request whose memory went back.
func TestRequestMemoryGivenBackOnlyWhenNothingReadsIt(t *testing.T) {
	ok := "llama3?tokens=50&text=tok&usage=0"
	for _, c := range []struct {
		name     string
		model    string
		counter  gateway.Counter
		acct     bool
		encoder  bool // the serving provider says when it has encoded
		released bool
		failed   bool // the provider refuses the call after encoding
	}{
		{"no admission, a provider that encodes", "a/" + ok, gateway.ApproxCounter{}, false, true, true, false},
		{"the default counter", "a/" + ok, nil, false, true, true, false},
		{"a provider that does not say", "a/" + ok, gateway.ApproxCounter{}, false, false, false, false},
		{"an admission records it", "a/" + ok, gateway.ApproxCounter{}, true, true, false, false},
		{"a counter by text", "a/" + ok, words{}, false, true, false, false},
		{"a tiktoken model", "a/gpt-4o?tokens=50&text=tok&usage=0", nil, false, true, false, false},
		{"a fallback chain", "chain", gateway.ApproxCounter{}, false, true, false, false},
		{"a fallback chain in a wrapper", "w/x", gateway.ApproxCounter{}, false, true, false, false},
		{"refused after encoding", "a/x?status=503", gateway.ApproxCounter{}, false, true, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a, b stream.Provider
			ea, eb := &encodes{serv: mock.New(mock.Options{})}, &encodes{serv: mock.New(mock.Options{})}
			a, b = ea, eb
			if !c.encoder {
				a = &sentTo{serv: mock.New(mock.Options{})}
			}
			r := gateway.NewStaticRouter()
			r.Register("a", a)
			r.Register("b", b)
			r.Alias("chain", gateway.Target{Provider: "a", Model: "x?status=503"}, gateway.Target{Provider: "b", Model: ok})
			chain := &gateway.Fallback{Targets: []gateway.FallbackTarget{{Name: "a", Model: "x?status=503", Provider: a}, {Name: "b", Model: ok, Provider: b}}}
			r.Register("w", stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
				return chain.Stream(ctx, req)
			}))
			acc, obs := &accountant{}, &observer{}
			o := gateway.Options{Router: r, Observer: obs, Counter: c.counter}
			if c.acct {
				o.Accountant = acc
			}
			gw := gateway.New(o)
			req, mem, texts := viewedChat(c.model)
			call, err := gw.Start(gateway.WithRequestMemory(context.Background(), mem), req)
			if c.failed {
				if err == nil {
					call.Close()
					t.Fatal("started")
				}
				if rec := obs.ended[0]; rec.Request != nil {
					t.Error("the failed call's record keeps a request whose memory went back")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if (call.Request == nil) != c.released {
					t.Errorf("Call.Request kept: %v, memory given back: %v", call.Request != nil, c.released)
				}
				for range 3 {
					if ev, err := call.Recv(); err != nil || ev.Kind != stream.KindDelta {
						t.Fatal(ev, err)
					}
				}
				call.Close() // cancelled: its usage is estimated
			}
			if n := mem.count(); n != map[bool]int{true: 1}[c.released] {
				t.Fatalf("memory given back %d times, want it given back: %v", n, c.released)
			}
			for _, e := range []*encodes{ea, eb} {
				for _, got := range e.got {
					if strings.Join(got, "|") != strings.Join(texts, "|") {
						t.Fatal("a provider got another request than the one started")
					}
				}
			}
			if c.failed {
				return
			}
			rec := obs.ended[0]
			if c.acct && acc.only(t) != rec {
				t.Fatal("the admission and the observer got different records")
			}
			if c.released && rec.Request != nil {
				t.Error("the record keeps a request whose memory went back")
			}
			if rec.Request != nil {
				for i, m := range rec.Request.Messages {
					if m.Content != texts[i] {
						t.Fatalf("the record's request, message %d: %.20q", i, m.Content)
					}
				}
			}
			counter := c.counter
			if counter == nil {
				counter = gateway.ApproxCounter{}
				if strings.Contains(c.model, "gpt") {
					counter = nil
				}
			}
			if counter == nil {
				return // tiktoken: counted as before, not this test's business
			}
			want := stream.Usage{PromptTokens: counter.Count(rec.Model, strings.Join(texts, "\n")+"\n"), CompletionTokens: counter.Count(rec.Model, rec.Output), Estimated: true}
			if rec.Usage != want || rec.Output != "tok tok tok" {
				t.Errorf("record: usage %+v (want %+v), output %q", rec.Usage, want, rec.Output)
			}
		})
	}
}
