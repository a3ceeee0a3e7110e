package ollama

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/stream"
)

// readChunks reads body as a stream does (dialect.UpstreamStream): next
// until a finish or an error. given says whether the reader went back to
// the pool.
func readChunks(body string) (all []stream.Event, given bool, err error) {
	c := new(chunks)
	c.r.init(strings.NewReader(body), nil)
	for {
		evs, err := c.ReadEvents()
		all = append(all, evs...)
		if err != nil || len(evs) > 0 && evs[len(evs)-1].Kind == stream.KindFinish {
			return all, c.r.buf == nil, err
		}
	}
}

// referenceChunks is readChunks with a bufio.Reader of its own, as the
// provider read before it pooled them and before lineReader.
func referenceChunks(body string) ([]stream.Event, error) {
	r := bufio.NewReaderSize(strings.NewReader(body), lineBuffer)
	var all []stream.Event
	calls := 0
	for {
		line, err := bufioLine(r)
		if err == io.EOF {
			return all, stream.Errorf(stream.CodeUpstream, "ollama: stream ended without a final object")
		}
		if err != nil {
			return all, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var evs []stream.Event
		evs, calls, err = DecodeChunk(line, calls)
		all = append(all, evs...)
		if err != nil || len(evs) > 0 && evs[len(evs)-1].Kind == stream.KindFinish {
			return all, err
		}
	}
}

// A stream's reader goes back to the pool at its last read, and its
// events do not point into the reader's buffer: another stream reusing
// it leaves them as they were, the events of a reader of their own.
func checkChunks(t *testing.T, body string) {
	t.Helper()
	got, given, err := readChunks(body)
	readChunks(strings.Repeat(`{"message":{"role":"assistant","content":"xxxxxxxx"}}`+"\n", 8)) // reuses the reader
	want, wantErr := referenceChunks(body)
	if !reflect.DeepEqual(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("events %v, %v\nwant %v, %v", got, err, want, wantErr)
	}
	if !given {
		t.Fatal("the reader was not given back at the stream's end")
	}
}

func TestChunksOutliveTheirReader(t *testing.T) {
	for _, name := range []string{"chat_thinking_tools.ndjson", "generate.ndjson"} {
		checkChunks(t, dialecttest.Fixture(t, name))
	}
	checkChunks(t, benchAnswer)
	checkChunks(t, `{"message":{"role":"assistant","content":"a"}}`+"\n"+`{"error":"boom"}`+"\n")
	checkChunks(t, `{"message":{"role":"assistant","content":"a"}}`+"\n"+`{bad`+"\n")
	checkChunks(t, `{"message":{"role":"assistant","content":"`+strings.Repeat("é", 3*lineBuffer)+`"}}`+"\n")
}

// FuzzChunks: through the pooled reader, any body gives what a reader of
// its own gives, and its events outlive the reader.
func FuzzChunks(f *testing.F) {
	for _, name := range []string{"chat_thinking_tools.ndjson", "generate.ndjson"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(string(b))
	}
	f.Add(benchAnswer)
	f.Add(`{"error":"boom"}` + "\n")
	f.Fuzz(func(t *testing.T, body string) { checkChunks(t, body) })
}
