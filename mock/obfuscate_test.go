package mock

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestObfuscate(t *testing.T) {
	body := []byte("data: {\"a\":1,\"choices\":[]}\n\nevent: x\ndata: {}\n\ndata: [DONE]\n\n")
	got := Obfuscate(body, 1)
	if !bytes.Equal(got, Obfuscate(body, 1)) {
		t.Fatal("not a function of body and seed")
	}
	lines := strings.Split(string(got), "\n")
	for _, i := range []int{0, 3} {
		var m map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[i], "data: ")), &m); err != nil {
			t.Fatalf("line %d %q: %v", i, lines[i], err)
		}
		if o, _ := m["obfuscation"].(string); o == "" || !strings.HasSuffix(lines[i], `"obfuscation":"`+o+`"}`) {
			t.Errorf("line %d %q: no obfuscation last", i, lines[i])
		}
	}
	if lines[0] == "data: {\"a\":1,\"choices\":[]}" || lines[2] != "event: x" || lines[5] != "data: [DONE]" {
		t.Errorf("got %q", got)
	}
}
