package dialect_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// tokens passes its texts on the token path, then none (Recv is never
// called here).
type tokens []string

func (t *tokens) Recv() (stream.Event, error) { return stream.Event{}, io.EOF }
func (t *tokens) Close() error                { return nil }

func (t *tokens) RecvToken() (string, bool) {
	if len(*t) == 0 {
		return "", false
	}
	text := (*t)[0]
	*t = (*t)[1:]
	return text, true
}

// failingWriter fails every write after the first n.
type failingWriter struct {
	http.ResponseWriter
	n int
}

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("gone")
	}
	w.n--
	return w.ResponseWriter.Write(b)
}

// TestSendTokens: every token the stream passes leaves as its own event,
// in order, and SendTokens returns true once the stream passes none, with
// the rest left to Recv; false at the first write that fails, the tokens
// after it unread.
func TestSendTokens(t *testing.T) {
	rec := httptest.NewRecorder()
	out := sse.NewWriter(rec, sse.Options{OmitIDs: true})
	te := sse.NewTextEvent("delta", []byte(`{"text":`), "}")
	tok := tokens{"a", "bc", "d"}
	if !dialect.SendTokens(&tok, out, te) {
		t.Fatal("SendTokens = false, want true")
	}
	out.Flush()
	want := "event: delta\ndata: {\"text\":\"a\"}\n\nevent: delta\ndata: {\"text\":\"bc\"}\n\nevent: delta\ndata: {\"text\":\"d\"}\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("body:\n%q\nwant\n%q", got, want)
	}

	w := &failingWriter{ResponseWriter: httptest.NewRecorder()}
	out = sse.NewWriter(w, sse.Options{OmitIDs: true})
	tok = tokens{"a", "b", "c"}
	if dialect.SendTokens(&tok, out, te) {
		t.Fatal("SendTokens = true on a failed write, want false")
	}
	if len(tok) != 2 {
		t.Errorf("%d tokens left unread, want 2 (none read after the failed write)", len(tok))
	}
}
