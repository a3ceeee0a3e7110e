package client

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/dialect/dialecttest"
)

// A stream's events are decoded in place in its reader's buffer, which is
// pooled: a token costs its id's string and the allocations of decoding
// its JSON, 12 (it was 14, its data copied twice: into a string, and back
// into bytes for encoding/json).
func TestStreamTokenAllocations(t *testing.T) {
	allocs := func(tokens int) float64 {
		c := New("http://runnel", WithHTTPClient(&http.Client{Transport: dialecttest.Canned{Body: []byte(benchChat(tokens))}}))
		req := ChatRequest{Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}}
		return testing.AllocsPerRun(100, func() {
			for _, err := range c.StreamChat(context.Background(), req).Events() {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if per := (allocs(50) - allocs(1)) / 49; per > 12.1 {
		t.Errorf("%.1f allocations a token, want at most 12", per)
	}
}

// A stream's events are copied out of its reader's buffer: another stream
// reusing the buffer leaves them as they were.
func TestStreamEventsOutliveTheirReader(t *testing.T) {
	read := func(body string) []Event {
		c := New("http://runnel", WithHTTPClient(&http.Client{Transport: dialecttest.Canned{Body: []byte(body)}}))
		var evs []Event
		for ev, err := range c.StreamChat(context.Background(), chatReq()).Events() {
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	first := read(benchChat(3))
	want := []Event{{Text: " token", Channel: "output"}, {Text: " token", Channel: "output"}, {Text: " token", Channel: "output"},
		{FinishReason: "stop"}, {Usage: &Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8}}}
	if !reflect.DeepEqual(first, want) {
		t.Fatalf("events %+v\nwant %+v", first, want)
	}
	read(strings.ReplaceAll(benchChat(3), "token", "xxxxx")) // the same buffer, other bytes
	if !reflect.DeepEqual(first, want) {
		t.Fatalf("after another stream: %+v", first)
	}
}
