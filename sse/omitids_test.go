package sse

import (
	"net/http/httptest"
	"testing"
)

func TestWriterOmitIDs(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec, Options{KeepAlive: -1, OmitIDs: true})
	defer w.Close()
	must(t, w.SendString("", `{"a":1}`))
	must(t, w.SendString("delta", "x"))
	must(t, w.SendString("", "[DONE]"))
	want := "data: {\"a\":1}\n\nevent: delta\ndata: x\n\ndata: [DONE]\n\n"
	if got := rec.Body.String(); got != want {
		t.Fatalf("body:\n%q\nwant\n%q", got, want)
	}
	if w.LastID() != 3 {
		t.Fatalf("LastID = %d: events are still counted", w.LastID())
	}
}
