package ollama

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// lineCases are lines scanLine must decode as encoding/json does, or
// leave to it: escapes, nulls, unknown keys, keys encoding/json folds or
// merges, trailing data, numbers beyond Int.
var lineCases = []string{
	`{"model":"m","created_at":"t","message":{"role":"assistant","content":"Hi"},"done":false}`,
	`{"message":{"role":"assistant","content":"","thinking":"hm"},"thinking":"top","done":false}`,
	`{"message":{"content":"a\u00e9\n\"b\""},"done":false}`,
	`{"message":{"content":"\xff\xfe"},"done":false}`,
	`{"message":null,"response":"r","done":null}`,
	`{"response":null,"thinking":"t","done":true,"eval_count":-3}`,
	`{"response":"","message":{"content":"m"}}`,
	`{"Message":{"content":"folded"}}`,
	`{"message":{"Content":"folded"}}`,
	`{"message":{"content":"a"},"message":{"thinking":"merged"}}`,
	`{"done":true,"done":false}`,
	`{"done":true,"eval_count":1.5}`,
	`{"done":true,"eval_duration":1e3}`,
	`{"done":true,"eval_duration":12345678901234567890}`,
	`{"done":true,"done_reason":"length","prompt_eval_count":26,"context":[1,2,{"a":null}]}`,
	`{"message":{"content":"x"}} x`,
	`{"message":{"content":"x"}}` + " \t",
	`{"message":{"content":"x","images":null,"tool_calls":null,"tool_name":null}}`,
	`{"message":{"content":"x","images":[]}}`,
	`{"message":{"content":"x","tool_calls":[{"function":{"name":"f","arguments":{}}}]},"done":true}`,
	`{"error":"boom"}`,
	`{"error":""}`,
	`{"model":5}`,
	`{"done":"true"}`,
	`null`,
	`[]`,
	`{"message":{"content":"x"}`,
	`{"ſtuff":1,"mode\u006c":"m"}`,
}

// The scanner's events are encoding/json's (decodeJSON), for every line it
// takes; and lines of text are the ones it takes.
func TestScanLineMatchesEncodingJSON(t *testing.T) {
	for _, line := range lineCases {
		checkScan(t, line)
	}
	for _, name := range []string{"chat_thinking_tools.ndjson", "generate.ndjson"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			_, ok := scanLine([]byte(line))
			if want := !strings.Contains(line, "tool_calls"); ok != want {
				t.Errorf("scanLine took %s: %v, want %v", line, ok, want)
			}
			checkScan(t, line)
		}
	}
}

// checkScan fails t if scanLine takes line and decodes it otherwise than
// decodeJSON, or takes a line decodeJSON refuses.
func checkScan(t *testing.T, line string) {
	t.Helper()
	if _, ok := scanLine([]byte(line)); !ok {
		return
	}
	for _, calls := range []int{0, 2} {
		want, wantCalls, err := decodeJSON([]byte(line), calls)
		if err != nil {
			t.Fatalf("scanLine took %q, which encoding/json refuses: %v", line, err)
		}
		got, gotCalls, err := DecodeChunk([]byte(line), calls)
		if err != nil || gotCalls != wantCalls || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q (calls %d): scanned %+v, %d, %v; encoding/json %+v, %d", line, calls, got, gotCalls, err, want, wantCalls)
		}
	}
}

// The events of a scanned line do not share the reader's buffer, which
// the next line overwrites.
func TestScanLineCopiesWhatItKeeps(t *testing.T) {
	line := []byte(`{"message":{"content":"Hello","thinking":"hm"},"response":"r","thinking":"t"}`)
	c, ok := scanLine(line)
	if !ok {
		t.Fatal("not taken")
	}
	for i := range line {
		line[i] = 'X'
	}
	if c.msgContent != "Hello" || c.msgThinking != "hm" || c.response != "r" || c.thinking != "t" {
		t.Fatalf("strings changed with the buffer: %+v", c)
	}
}

// FuzzLineScan feeds any line to the scanner and to encoding/json: where
// the scanner takes it, the events are the same (run: go test -fuzz
// FuzzLineScan ./dialect/ollama/).
func FuzzLineScan(f *testing.F) {
	for _, line := range lineCases {
		f.Add(line)
	}
	for _, name := range []string{"chat_thinking_tools.ndjson", "generate.ndjson"} {
		b, _ := os.ReadFile("testdata/" + name)
		for _, l := range strings.Split(string(b), "\n") {
			f.Add(l)
		}
	}
	f.Fuzz(checkScan)
}

// chunkKey and messageKey are slices.Index on their lists.
func TestKeyIndexes(t *testing.T) {
	for _, keys := range []struct {
		list  []string
		index func(string) int
	}{{chunkKeys, chunkKey}, {messageKeys, messageKey}} {
		for _, k := range append(slices.Clone(keys.list), "Model", "", "other", "contents") {
			if got, want := keys.index(k), slices.Index(keys.list, k); got != want {
				t.Errorf("%q: %d, want %d", k, got, want)
			}
		}
	}
}

// A line of text costs two allocations, its copy and the events, where
// encoding/json made a dozen.
func TestScanLineAllocations(t *testing.T) {
	line := []byte(`{"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"Hi"},"done":false}`)
	if n := testing.AllocsPerRun(100, func() { DecodeChunk(line, 0) }); n > 2 {
		t.Errorf("%v allocations a line", n)
	}
}
