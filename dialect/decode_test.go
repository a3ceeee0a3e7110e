package dialect

import (
	"net/http/httptest"
	"strings"
	"testing"
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
