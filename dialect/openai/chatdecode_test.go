package openai

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// scanCases are bodies scanChat must take (true) or leave to
// encoding/json (false).
var scanCases = []struct {
	name string
	body string
	fast bool
}{
	{"bench", `{"model":"openai/default","messages":[{"role":"user","content":"Tell me a story."}],"stream":true,"stream_options":{"include_usage":true}}`, true},
	{"spaces", " \t\r\n{ \"model\" : \"m\" , \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"hi\" , \"name\" : \"n\" } , {\"role\":\"assistant\",\"content\":\"\"} ] } \n", true},
	{"sampling", `{"model":"m","messages":[],"max_tokens":16,"max_completion_tokens":0,"temperature":0.7,"top_p":1,"n":1,"seed":-9223372036854775808,"presence_penalty":-1.5e0,"frequency_penalty":2E-1,"user":"u","stream":false}`, true},
	{"escapes", `{"model":"a\"\\\/\b\f\n\r\tb\u00e9\u20ac\u0000","messages":[{"role":"user","content":"x\ny \"q\" é 😀"}]}`, true},
	{"utf-8", `{"model":"日本","messages":[{"role":"user","content":"é😀 ` + "\u2028" + `"}]}`, true},
	{"empty object", `{}`, true},
	{"unknown key", `{"model":"m","tools":[]}`, false},
	{"other case", `{"Model":"m"}`, false},
	{"duplicate key", `{"model":"a","model":"b"}`, false},
	{"duplicate message key", `{"messages":[{"role":"user","role":"system"}]}`, false},
	{"content parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, false},
	{"null", `{"model":null}`, false},
	{"null content", `{"messages":[{"role":"assistant","content":null}]}`, false},
	{"surrogates", `{"model":"\ud83d\ude00"}`, false},
	{"invalid utf-8", "{\"model\":\"\xff\"}", false},
	{"fraction for an int", `{"max_tokens":1.0}`, false},
	{"int overflow", `{"max_tokens":9223372036854775808}`, false},
	{"float overflow", `{"temperature":1e400}`, false},
	{"leading zero", `{"max_tokens":01}`, false},
	{"trailing data", `{"model":"m"} {}`, false},
	{"trailing garbage", `{"model":"m"}x`, false},
	{"string for a bool", `{"stream":"true"}`, false},
	{"bool glued", `{"stream":truex}`, false},
	{"control byte", "{\"model\":\"a\x01\"}", false},
	{"unterminated", `{"model":"m"`, false},
	{"array", `[]`, false},
	{"stream options key", `{"stream_options":{"include_usage":true,"x":1}}`, false},
	{"escaped key", `{"mod\u0065l":"m"}`, false},
}

func TestScanChat(t *testing.T) {
	for _, tc := range scanCases {
		t.Run(tc.name, func(t *testing.T) {
			var got ChatRequest
			if fast := scanChat([]byte(tc.body), &got); fast != tc.fast {
				t.Fatalf("scanChat took it: %v, want %v", fast, tc.fast)
			}
			checkScan(t, []byte(tc.body))
		})
	}
}

func checkScan(t *testing.T, body []byte) { dialecttest.CheckScanner(t, body, scanChat) }

// FuzzScanChat: for any body, scanChat agrees with encoding/json.
func FuzzScanChat(f *testing.F) {
	for _, tc := range scanCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkScan(t, body) })
}

// FuzzDecodeChatBody: the server's decoding (scanner first, then
// encoding/json) gives the same request, or the same error, as
// dialect.DecodeJSON alone.
func FuzzDecodeChatBody(f *testing.F) {
	for _, tc := range scanCases {
		f.Add([]byte(tc.body), int64(0))
	}
	f.Add([]byte(`{"model":"m"}          `), int64(14))
	f.Add([]byte(`{"model":"m","messages":[]}`), int64(20))
	f.Fuzz(func(t *testing.T, body []byte, limit int64) {
		if limit < 0 || limit > 1<<20 {
			limit = 0
		}
		s := &Server{opts: Options{BodyLimit: limit}}
		dialecttest.CheckDecoder(t, body, limit, func(w http.ResponseWriter, r *http.Request, c *ChatRequest) *stream.Error {
			return s.decodeHeld(w, r, c)
		})
	})
}

// TestDecodeChatBodyErrors: bodies the scanner leaves get DecodeJSON's
// answers, the limit's included.
func TestDecodeChatBodyErrors(t *testing.T) {
	for _, tc := range []struct {
		body  string
		limit int64
		want  string
	}{
		{`{"model":"m"}` + strings.Repeat(" ", 100), 50, "larger than the limit of 50 bytes"},
		{`{"model":1}`, 0, "model must be a string"},
		{`{"model":"m"} {}`, 0, "unexpected data after the top-level value"},
		{``, 0, "request body is empty"},
		{`{"model":"m"`, 0, "unexpected end of input"},
	} {
		s := &Server{opts: Options{BodyLimit: tc.limit}}
		var got ChatRequest
		err := s.decodeHeld(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), &got)
		if err == nil || !strings.Contains(err.Message, tc.want) {
			t.Errorf("%q: %v, want %q", tc.body, err, tc.want)
		}
	}
}

// FuzzPlainContent: content taken as its bytes is what contentText
// decodes it to.
func FuzzPlainContent(f *testing.F) {
	for _, s := range []string{`"hi"`, `""`, `"é😀"`, `"a\nb"`, "\"\xff\"", `"a"b"`, "\"\x01\"", `null`, `["x"]`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		text, isNull, ok := plainContent(raw)
		if !ok {
			return
		}
		want, wantNull, err := contentText(raw, "content")
		if err != nil || text != want || isNull != wantNull {
			t.Fatalf("plainContent(%q) = %q, %v; contentText: %q, %v, %v", raw, text, isNull, want, wantNull, err)
		}
	})
}

// decodeHeld is decodeBody for tests that read the value after, a chat
// read as the server reads it (into a scannedChat's room).
func (s *Server) decodeHeld(w http.ResponseWriter, r *http.Request, body requestBody) *stream.Error {
	if c, ok := body.(*ChatRequest); ok {
		var sc scannedChat
		_, _, err := s.decodeBody(w, r, &sc)
		*c = sc.ChatRequest
		return err
	}
	_, _, err := s.decodeBody(w, r, body)
	return err
}

// FuzzViewedChatRequest: the request the server makes of a body, its
// texts views of the body unescaped in place when scanChat took it, is
// the request encoding/json's decoding gives, or both are refused.
func FuzzViewedChatRequest(f *testing.F) {
	for _, tc := range scanCases {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"a\u00e9\n\"b\"\/"},{"role":"assistant","content":"é"},{"role":"tool","content":"x"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"system"},{"role":"user","content":"` + strings.Repeat(`x\ty`, 3000) + `"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := &Server{gw: &dialecttest.Gateway{}}
		var c scannedChat
		got, _ := s.decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(body)), &c)
		var want *stream.Request
		var wc ChatRequest
		if dialect.DecodeJSON(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(body)), 0, &wc) == nil {
			want = s.validate(httptest.NewRecorder(), &wc, false)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}

// TestDecodedRequestOutlivesItsBody: a scanned request's texts are views
// of its body, which is its own until given back (gateway.RequestEncoded):
// not the next body's buffer, nor written by anyone who takes buffers
// from the pool.
func TestDecodedRequestOutlivesItsBody(t *testing.T) {
	s := &Server{gw: &dialecttest.Gateway{}}
	chat := func(c byte) string {
		return `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat(string(c), 8192) + `"},{"role":"user","content":"a\nb"}]}`
	}
	var reqs []*stream.Request
	for _, c := range []byte("xyz") {
		var body scannedChat
		req, _ := s.decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(chat(c))), &body)
		if req == nil {
			t.Fatal("not decoded")
		}
		reqs = append(reqs, req)
		scribbleOnPool()
	}
	for i, c := range []byte("xyz") {
		if m := reqs[i].Messages; len(m) != 2 || m[0].Content != strings.Repeat(string(c), 8192) || m[1].Content != "a\nb" {
			t.Errorf("request %d: %.40q", i, m)
		}
	}
}

// scribbleOnPool takes buffers of a body's sizes from the pool and
// writes them full.
func scribbleOnPool() {
	for range 4 {
		for _, n := range []int{1 << 10, 8 << 10, 9 << 10, 12 << 10} {
			p := dialect.GetBuffer(n)
			*p = append(*p, bytes.Repeat([]byte{'#'}, cap(*p))...)
			dialect.PutBuffer(p)
		}
	}
}
