package dialect

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// A body's type errors name the field and what it must be, for every kind
// a request field has.
func TestDecodeJSONTypeErrors(t *testing.T) {
	type body struct {
		Credits     int64    `json:"credits"`
		Temperature float64  `json:"temperature"`
		Stream      bool     `json:"stream"`
		Model       string   `json:"model"`
		Stop        []string `json:"stop"`
		Options     struct{} `json:"options"`
		Budget      *float64 `json:"budget"`
	}
	for _, c := range []struct{ body, param, msg string }{
		{`{"credits":2.5}`, "credits", "credits must be an integer, not number 2.5"},
		{`{"credits":1e30}`, "credits", "credits must be an integer, not number 1e30"},
		{`{"credits":"5"}`, "credits", "credits must be an integer, not string"},
		{`{"temperature":"hot"}`, "temperature", "temperature must be a number, not string"},
		{`{"stream":1}`, "stream", "stream must be a boolean, not number"},
		{`{"model":7}`, "model", "model must be a string, not number"},
		{`{"stop":"x"}`, "stop", "stop must be an array, not string"},
		{`{"options":[]}`, "options", "options must be an object, not array"},
		{`{"budget":"x"}`, "budget", "budget must be a number, not string"},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		var v body
		err := DecodeJSON(httptest.NewRecorder(), r, 1<<20, &v)
		if err == nil || err.Param != c.param || err.Message != c.msg {
			t.Errorf("%s: %+v, want param %q, message %q", c.body, err, c.param, c.msg)
		}
	}
}

// DecodeJSONWith hands the fast decoder the whole body, whatever its
// length says, and gives what it leaves to encoding/json with
// DecodeJSON's answers.
func TestDecodeJSONWith(t *testing.T) {
	big := `{"model":"` + strings.Repeat("x", 3*maxPrealloc) + `"}`
	for _, c := range []struct {
		name   string
		body   string
		length int64 // the request's Content-Length; -1 unknown
		limit  int64
		take   bool   // the fast decoder takes it (and sets the model to "taken")
		want   string // the model, or the error's message
	}{
		{"taken", `{"model":"m"}`, 13, 0, true, "taken"},
		{"left", `{"model":"m"}`, 13, 0, false, "m"},
		{"unknown length", `{"model":"m"}`, -1, 0, true, "taken"},
		{"longer than the first allocation", big, int64(len(big)), 0, true, "taken"},
		{"left, longer than the first allocation", big, -1, 0, false, strings.Repeat("x", 3*maxPrealloc)},
		{"over the limit", big, int64(len(big)), 1000, true, "request body is larger than the limit of 1000 bytes"},
		{"left, invalid", `{"model":`, 9, 0, false, "invalid JSON: unexpected end of input"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			r.ContentLength = c.length
			var v struct {
				Model string `json:"model"`
			}
			err := DecodeJSONWith(httptest.NewRecorder(), r, c.limit, &v, func(data []byte) bool {
				if string(data) != c.body {
					t.Fatalf("the fast decoder saw %d bytes, not the body's %d", len(data), len(c.body))
				}
				if c.take {
					v.Model = "taken"
				}
				return c.take
			})
			got := v.Model
			if err != nil {
				got = err.Message
			}
			if got != c.want {
				t.Errorf("got %.40q, want %.40q", got, c.want)
			}
		})
	}
}

// readBody cuts a body at its limit as http.MaxBytesReader did before it
// (in front of it, in decodeWith): the same bytes, then the same error,
// for bodies about the limit's length, read whole or a byte at a time,
// of a length said or not.
func TestReadBodyLimitAsMaxBytesReader(t *testing.T) {
	const limit = 600 // over the first buffer of an unknown length (512)
	for _, n := range []int{0, 1, limit - 1, limit, limit + 1, limit + 2, 3 * limit} {
		body := strings.Repeat("x", n)
		for _, oneByte := range []bool{false, true} {
			for _, length := range []int64{-1, int64(n)} {
				src := func() io.Reader {
					if oneByte {
						return iotest.OneByteReader(strings.NewReader(body))
					}
					return strings.NewReader(body)
				}
				want, werr := io.ReadAll(http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(src()), limit))
				got, _, gerr := readBody(src(), length, limit, false)
				var wmax, gmax *http.MaxBytesError
				if string(got) != string(want) || errors.As(werr, &wmax) != errors.As(gerr, &gmax) || (gerr != nil && gmax == nil) {
					t.Errorf("%d bytes (one a read %v, length %d): read %d, %v; MaxBytesReader %d, %v", n, oneByte, length, len(got), gerr, len(want), werr)
				}
			}
		}
	}
}
