package dialecttest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// CheckScanner holds a dialect's fast request decoder (see
// dialect.DecodeJSONWith) to encoding/json, the oracle: a body it takes
// encoding/json takes too, whole, and decodes to the same value; a body
// it leaves, it leaves untouched. The scanner gets a copy of body: one
// that owns its body (dialect.DecodeJSONOwned) may write it.
func CheckScanner[T any](t testing.TB, body []byte, scan func([]byte, *T) bool) {
	t.Helper()
	var got T
	fast := scan(bytes.Clone(body), &got)
	if !fast {
		if !reflect.ValueOf(got).IsZero() {
			t.Fatalf("the scanner left %q but changed the value: %+v", body, got)
		}
		return
	}
	var want T
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(&want)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errTrailing
		}
	}
	if err != nil {
		t.Fatalf("the scanner took %q, which encoding/json refuses: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scanned %q\n got %#v\nwant %#v", body, got, want)
	}
}

var errTrailing = &json.SyntaxError{}

// CheckDecoder holds a dialect's request decoding (a scanner first, then
// encoding/json) to dialect.DecodeJSON alone: the same value, or the same
// error, for body posted under limit.
func CheckDecoder[T any](t testing.TB, body []byte, limit int64, decode func(http.ResponseWriter, *http.Request, *T) *stream.Error) {
	t.Helper()
	var got T
	gerr := decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(body)), &got)
	var want T
	werr := dialect.DecodeJSON(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(body)), limit, &want)
	if !reflect.DeepEqual(gerr, werr) {
		t.Fatalf("%q: error %v, DecodeJSON's %v", body, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", body, got, want)
	}
}
