package openai

import (
	"strings"
	"testing"
)

const roleChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`

// TestFirstHead lists heads firstHead must read at once (at the choices'
// value) and chunks it must leave to the full parse.
func TestFirstHead(t *testing.T) {
	for _, data := range []string{
		roleChunk,
		`{"choices":[]}`,
		`{"id":"","created":0,"choices":[{"index":0,"delta":{"content":"x"}}]}`,
		`{"id":"a","id":"b","choices":[{"index":0,"delta":{"content":"x"}}]}`,
		`{"id":"a~` + "\x7f" + `","choices":[]}`,
	} {
		if h := firstHead([]byte(data)); h == 0 || !strings.HasSuffix(data[:h], `"choices":`) {
			t.Errorf("firstHead(%s) = %d", data, h)
		}
	}
	for _, data := range []string{
		``, `{`, `{}`, ` {"choices":[]}`, `{"choices": []}`, `{"choices":null}`, `{ "choices":[]}`,
		`{"id":"x" ,"choices":[]}`, `{"id":"é","choices":[]}`, `{"id":"a\"b","choices":[]}`, `{"id":"a\nb","choices":[]}`,
		`{"created":01,"choices":[]}`, `{"created":-1,"choices":[]}`, `{"created":1.5,"choices":[]}`, `{"created":1e3,"choices":[]}`,
		`{"x":null,"choices":[]}`, `{"x":true,"choices":[]}`, `{"x":{},"choices":[]}`, `{"x":[],"choices":[]}`,
		`{"usage":null,"choices":[]}`, `{"error":null,"choices":[]}`, `{"usage":1,"choices":[]}`, `{"error":"e","choices":[]}`, `{"Choices":[]}`, `{"CHOICES":[]}`, `{"Model":"m","choices":[]}`,
		`{"":"m","choices":[]}`, `{"id":"x"}`, `{"id":"x",`, `{"id":"x","choices":`, `{"id"`,
	} {
		if h := firstHead([]byte(data)); h != 0 {
			t.Errorf("firstHead(%s) = %d, want 0", data, h)
		}
	}
}

// FuzzFirstHead: a head firstHead reads is where the full parse puts it,
// and parsing on from there is the whole chunk's parse.
func FuzzFirstHead(f *testing.F) {
	f.Add(roleChunk)
	f.Add(`{"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1796596208,"model":"default","choices":[{"index":0,"delta":{"role":"assistant","content":"Runnel"},"logprobs":null,"finish_reason":null}]}`)
	f.Add(`{"id":"c","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`)
	f.Add(`{"id":"c","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"choices":[]}`)
	f.Add(`{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"usage":null,"Choices":[]}`)
	f.Add(`{"id":"c","usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6},"choices":[]}`)
	f.Add(`{"error":"e","choices":[{"index":0,"delta":{"content":"a"}}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		h := firstHead([]byte(data))
		if h == 0 {
			return
		}
		c, at, head, ok := parseLiteFrom(data, 0)
		c2, at2, head2, ok2 := parseLiteFrom(data, h)
		if c != c2 || at != at2 || head != head2 || ok != ok2 {
			t.Fatalf("%s: from the start %+v %d %d %v, from %d %+v %d %d %v", data, c, at, head, ok, h, c2, at2, head2, ok2)
		}
		if ok && head != h {
			t.Fatalf("%s: head %d, firstHead %d", data, head, h)
		}
	})
}
