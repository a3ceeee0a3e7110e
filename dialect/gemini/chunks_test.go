package gemini

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
	"github.com/runnel/runnel/sse"
	"github.com/runnel/runnel/stream"
)

// readChunks reads body as a stream does (dialect.UpstreamStream): next
// until a finish or an error.
func readChunks(body string) ([]stream.Event, error) {
	c := &chunks{r: sse.NewReader(strings.NewReader(body))}
	c.r.SetMaxEventSize(maxEvent)
	var all []stream.Event
	for {
		evs, err := c.ReadEvents()
		if err != nil {
			return all, err
		}
		all = append(all, evs...)
		if len(evs) > 0 && evs[len(evs)-1].Kind == stream.KindFinish {
			return all, nil
		}
	}
}

// referenceChunks is readChunks with copies of each event's data (Next),
// as the provider read before it read them in place.
func referenceChunks(body string) ([]stream.Event, error) {
	r := sse.NewReader(strings.NewReader(body))
	r.SetMaxEventSize(maxEvent)
	var d Decoder
	var all []stream.Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			if evs, ok := d.End(); ok {
				return append(all, evs...), nil
			}
			return all, stream.Errorf(stream.CodeUpstream, "gemini: stream ended without a finish reason")
		}
		if err != nil {
			return all, err
		}
		evs, err := d.Decode([]byte(ev.Data))
		all = append(all, evs...)
		if err != nil || len(evs) > 0 && evs[len(evs)-1].Kind == stream.KindFinish {
			return all, err
		}
	}
}

// A stream's events do not point into its reader's buffer, which goes
// back to the pool at its finish: another stream reusing the buffer
// leaves them as they were, the events of a copy of each chunk's data.
func checkChunks(t *testing.T, body string) {
	t.Helper()
	got, err := readChunks(body)
	readChunks(strings.Repeat("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"xxxxxxxx\"}]}}]}\r\n\r\n", 8)) // reuses the buffer
	want, wantErr := referenceChunks(body)
	if !reflect.DeepEqual(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("events %v, %v\nwant %v, %v", got, err, want, wantErr)
	}
}

func TestChunksOutliveTheirBuffer(t *testing.T) {
	for _, name := range []string{"thinking.sse", "tool.sse"} {
		checkChunks(t, dialecttest.Fixture(t, name))
	}
	checkChunks(t, benchAnswer)
	checkChunks(t, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\ndata: {\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}\n\n")
	checkChunks(t, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\ndata: {bad\n\n")
}

// FuzzChunks: read in place, any body gives what copies of its chunks
// give, and its events outlive the reader's buffer.
func FuzzChunks(f *testing.F) {
	for _, name := range []string{"thinking.sse", "tool.sse"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(string(b))
		f.Add(string(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))))
	}
	f.Add(benchAnswer)
	f.Add("data: {\"error\":{\"code\":429,\"message\":\"slow\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n")
	f.Fuzz(func(t *testing.T, body string) { checkChunks(t, body) })
}
