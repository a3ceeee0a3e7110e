package anthropic

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// scanCases are bodies scanMessages must take (true) or leave to
// encoding/json (false).
var scanCases = []struct {
	name string
	body string
	fast bool
}{
	{"bench", `{"model":"anthropic/default","max_tokens":256,"messages":[{"role":"user","content":[{"type":"text","text":"Tell me a story."}]}],"stream":true}`, true},
	{"string content", ` { "model" : "m", "max_tokens": 1, "messages": [ {"role":"user","content":"hi\n\u00e9"}, {"role":"assistant","content":[]} ] } `, true},
	{"escaped blocks", `{"system":"a\/b","messages":[{"role":"user","content":[{"type":"text","text":"x\"y\u20ac"},{"text":"\t","type":"text"}]}]}`, true},
	{"escapes, then left", `{"system":"a\nb","messages":[{"role":"user","content":[{"type":"text","text":"x\ny"}]}],"metadata":{}}`, false},
	{"system and sampling", `{"model":"m","max_tokens":5,"system":"be brief","stop_sequences":["\n\nHuman:","x"],"temperature":0.5,"top_p":1e-1,"top_k":40,"messages":[]}`, true},
	{"system blocks", `{"system":[{"type":"text","text":"a"},{"text":"b","type":"text"}],"stop_sequences":[]}`, true},
	{"empty", `{}`, true},
	{"tool use", `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]}]}`, false},
	{"unknown key", `{"model":"m","metadata":{"user_id":"u"}}`, false},
	{"other case", `{"Model":"m"}`, false},
	{"duplicate key", `{"stream":true,"stream":false}`, false},
	{"duplicate block key", `{"system":[{"type":"text","type":"x"}]}`, false},
	{"null content", `{"messages":[{"role":"user","content":null}]}`, false},
	{"number content", `{"messages":[{"role":"user","content":1}]}`, false},
	{"surrogates", `{"system":"\ud83d\ude00"}`, false},
	{"fraction for an int", `{"max_tokens":2.5}`, false},
	{"trailing", `{"model":"m"}]`, false},
}

func TestScanMessages(t *testing.T) {
	for _, tc := range scanCases {
		t.Run(tc.name, func(t *testing.T) {
			var got MessagesRequest
			if fast := scanMessages([]byte(tc.body), &got); fast != tc.fast {
				t.Fatalf("scanMessages took it: %v, want %v", fast, tc.fast)
			}
			dialecttest.CheckScanner(t, []byte(tc.body), scanMessages)
		})
	}
}

// FuzzScanMessages: for any body, scanMessages agrees with encoding/json.
func FuzzScanMessages(f *testing.F) {
	for _, tc := range scanCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { dialecttest.CheckScanner(t, body, scanMessages) })
}

// FuzzDecodeMessagesBody: the server's decoding gives the same request,
// or the same error, as dialect.DecodeJSON alone.
func FuzzDecodeMessagesBody(f *testing.F) {
	for _, tc := range scanCases {
		f.Add([]byte(tc.body), int64(0))
	}
	f.Add([]byte(`{"model":"m"}     `), int64(14))
	f.Fuzz(func(t *testing.T, body []byte, limit int64) {
		if limit < 0 || limit > 1<<20 {
			limit = 0
		}
		s := &Server{opts: Options{BodyLimit: limit}}
		dialecttest.CheckDecoder(t, body, limit, s.decodeHeld)
	})
}

// decodeHeld is decode for tests that read the value after, read as the
// server reads it (into a scannedMessages' room).
func (s *Server) decodeHeld(w http.ResponseWriter, r *http.Request, b *MessagesRequest) *stream.Error {
	var sm scannedMessages
	_, err := s.decode(w, r, &sm)
	*b = sm.MessagesRequest
	return err
}

// TestDecodedRequestOutlivesItsBody: a scanned request's texts are views
// of its body (unescaped in place), which is its own until given back
// (gateway.RequestEncoded): not the next body's buffer, nor written by
// whoever takes buffers from the pool.
func TestDecodedRequestOutlivesItsBody(t *testing.T) {
	s := &Server{}
	var bodies []*scannedMessages
	for _, c := range []byte("xyz") {
		body := new(scannedMessages)
		raw := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat(string(c), 8192) + `"},` +
			`{"role":"assistant","content":[{"type":"text","text":"a\u00e9\n"},{"type":"text","text":"` + strings.Repeat(string(c), 4096) + `"}]}]}`
		if _, err := s.decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(raw)), body); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, body)
		for range 4 {
			for _, n := range []int{1 << 10, 8 << 10, 12 << 10, 16 << 10} {
				p := dialect.GetBuffer(n)
				*p = append(*p, bytes.Repeat([]byte{'#'}, cap(*p))...)
				dialect.PutBuffer(p)
			}
		}
	}
	for i, c := range []byte("xyz") {
		req, err := bodies[i].toRequest()
		if err != nil {
			t.Fatal(err)
		}
		if m := req.Messages; len(m) != 2 || m[0].Content != strings.Repeat(string(c), 8192) || m[1].Content != "aé\n"+strings.Repeat(string(c), 4096) {
			t.Errorf("request %d: %.40q", i, m)
		}
	}
}
