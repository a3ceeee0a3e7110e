package openai

import (
	"context"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// deltaLogprobs renders each delta as text=logprobs.
func deltaLogprobs(evs []stream.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Kind == stream.KindDelta {
			out = append(out, ev.Text+"="+string(ev.Logprobs()))
		}
	}
	return out
}

// The provider forwards logprobs and top_logprobs as OpenAI takes them,
// and each chunk's choice logprobs come back on its delta, streamed or
// not; the role chunk's (no text) go with the first token's.
func TestProviderLogprobs(t *testing.T) {
	hi := `{"token":"Hi","logprob":-0.0123,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.0123,"bytes":[72,105]},{"token":"Hello","logprob":-4.5,"bytes":[72,101,108,108,111]}]}`
	there := `{"token":" there","logprob":-0.25,"bytes":[32,116,104,101,114,101],"top_logprobs":[{"token":" there","logprob":-0.25,"bytes":[32,116,104,101,114,101]},{"token":"!","logprob":-1.75,"bytes":[33]}]}`
	user := []stream.Message{{Role: "user", Content: "hi"}}
	for _, tt := range []struct {
		name    string
		fixture string
		json    bool // a non-streamed answer
		req     *stream.Request
		body    string
		deltas  []string
		joined  string
	}{
		{"chat", "chat_logprobs.sse", false,
			&stream.Request{Model: "g", Messages: user, Sampling: stream.Sampling{Logprobs: true, TopLogprobs: 2}},
			`{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":2}`,
			[]string{`Hi={"content":[` + hi + `],"refusal":null}`, ` there={"content":[` + there + `],"refusal":null}`},
			`{"content":[` + hi + `,` + there + `],"refusal":null}`},
		{"chat without alternatives", "chat_logprobs.sse", false,
			&stream.Request{Model: "g", Messages: user, Sampling: stream.Sampling{Logprobs: true}},
			`{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"logprobs":true}`,
			nil, ""},
		{"legacy completions", "completions_logprobs.sse", false,
			&stream.Request{Model: "i", Prompt: "One,", RawPrompt: true, Sampling: stream.Sampling{Logprobs: true, TopLogprobs: 1}},
			`{"model":"i","prompt":"One,","stream":true,"stream_options":{"include_usage":true},"logprobs":1}`,
			[]string{` a={"tokens":[" a"],"token_logprobs":[-0.5],"top_logprobs":[{" a":-0.5}],"text_offset":[4]}`,
				` b={"tokens":[" b"],"token_logprobs":[-1.5],"top_logprobs":[{" b":-1.5}],"text_offset":[6]}`},
			`{"tokens":[" a"," b"],"token_logprobs":[-0.5,-1.5],"top_logprobs":[{" a":-0.5},{" b":-1.5}],"text_offset":[4,6]}`},
		{"legacy logprobs 0", "completions_logprobs.sse", false,
			&stream.Request{Model: "i", Prompt: "x", RawPrompt: true, Sampling: stream.Sampling{Logprobs: true}},
			`{"model":"i","prompt":"x","stream":true,"stream_options":{"include_usage":true},"logprobs":0}`, nil, ""},
		{"non-streamed answer", "chat_logprobs.json", true,
			&stream.Request{Model: "g", Messages: user, Sampling: stream.Sampling{Logprobs: true}}, "",
			[]string{`Hi there={"content":[{"token":"Hi","logprob":-0.0123,"bytes":[72,105],"top_logprobs":[]},{"token":" there","logprob":-0.25,"bytes":[32,116,104,101,114,101],"top_logprobs":[]}],"refusal":null}`}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := &rawUpstream{pieces: []string{dialecttest.Fixture(t, tt.fixture)}}
			if tt.json {
				u.header = map[string]string{"Content-Type": "application/json"}
			}
			srv := u.start(t)
			p := NewProvider(Config{BaseURL: srv.URL})
			if !p.CanLogprobs(tt.req.Model) {
				t.Fatal("the openai provider says it cannot report logprobs")
			}
			s, err := p.Stream(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := dialecttest.ReadAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if tt.body != "" && string(u.body) != tt.body {
				t.Errorf("body:\n%s\nwant:\n%s", u.body, tt.body)
			}
			if tt.deltas != nil {
				if got := deltaLogprobs(evs); strings.Join(got, "\n") != strings.Join(tt.deltas, "\n") {
					t.Errorf("deltas:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.deltas, "\n"))
				}
			}
			if tt.joined != "" {
				if lp := stream.JoinLogprobs(logprobsOf(evs)...); string(lp) != tt.joined {
					t.Errorf("joined %v, want %s", lp, tt.joined)
				}
			}
		})
	}
}

func logprobsOf(evs []stream.Event) []stream.Logprobs {
	var out []stream.Logprobs
	for _, ev := range evs {
		out = append(out, ev.Logprobs())
	}
	return out
}

// A request without logprobs sends neither field.
func TestProviderNoLogprobs(t *testing.T) {
	u := &rawUpstream{pieces: []string{dialecttest.Fixture(t, "chat_logprobs.sse")}}
	srv := u.start(t)
	s, err := NewProvider(Config{BaseURL: srv.URL}).Stream(context.Background(), chatReq())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialecttest.ReadAll(s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(u.body), "logprobs") {
		t.Errorf("body %s asks for logprobs", u.body)
	}
}

// The dialect maps logprobs and top_logprobs (chat) and logprobs (legacy),
// streamed chunks carry each delta's logprobs instead of null, and a
// non-streamed answer joins them per choice.
func TestServerLogprobs(t *testing.T) {
	lp := func(text, n string) stream.Event {
		ev := stream.Delta(text)
		ev.SetLogprobs(stream.Logprobs(`{"content":[{"token":"` + text + `","logprob":` + n + `,"top_logprobs":[]}],"refusal":null}`))
		return ev
	}
	srv, gw := newTestServer(t, map[string]stream.Provider{"m": sliceProvider(
		lp("Hi", "-1"), stream.Delta("!"), lp(" you", "-2"), stream.Finished(stream.FinishStop))})
	msgs := `"messages":[{"role":"user","content":"hi"}]`

	_, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m",`+msgs+`,"stream":true,"logprobs":true,"top_logprobs":3}`)
	if s := gw.last.Sampling; !s.Logprobs || s.TopLogprobs != 3 {
		t.Errorf("sampling %+v", s)
	}
	want := "" +
		"data: " + head + `{"index":0,"delta":{"role":"assistant","content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-1,"top_logprobs":[]}],"refusal":null},"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{"content":" you"},"logprobs":{"content":[{"token":" you","logprob":-2,"top_logprobs":[]}],"refusal":null},"finish_reason":null}]}` + "\n\n" +
		"data: " + head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	if body = stripIDs(t, body); body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}

	_, body = post(t, srv.URL+"/v1/chat/completions", `{"model":"m",`+msgs+`,"logprobs":true}`)
	if s := gw.last.Sampling; !s.Logprobs || s.TopLogprobs != 0 {
		t.Errorf("sampling %+v", s)
	}
	want = `{"id":"chatcmpl-abc123","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi! you","refusal":null},"finish_reason":"stop","logprobs":{"content":[{"token":"Hi","logprob":-1,"top_logprobs":[]},{"token":" you","logprob":-2,"top_logprobs":[]}],"refusal":null}}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}` + "\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}

	post(t, srv.URL+"/v1/chat/completions", `{"model":"m",`+msgs+`,"logprobs":false}`)
	if gw.last.Sampling.Logprobs {
		t.Error("logprobs false asked for logprobs")
	}
	post(t, srv.URL+"/v1/completions", `{"model":"m","prompt":"x","logprobs":2}`)
	if s := gw.last.Sampling; !s.Logprobs || s.TopLogprobs != 2 {
		t.Errorf("completions sampling %+v", s)
	}
	post(t, srv.URL+"/v1/completions", `{"model":"m","prompt":"x","logprobs":null}`)
	if gw.last.Sampling.Logprobs {
		t.Error("completions logprobs null asked for logprobs")
	}
}
