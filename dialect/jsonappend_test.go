package dialect

import (
	"encoding/json"
	"testing"
)

// The field appenders write what json.Marshal writes of a struct with
// such fields (omitempty), after a leading field.
func TestAppendFieldsMatchMarshal(t *testing.T) {
	type fields struct {
		A  int      `json:"a"`
		N  *int     `json:"n,omitempty"`
		S  *int64   `json:"s,omitempty"`
		SS []string `json:"ss,omitempty"`
	}
	n, s := -7, int64(1)<<62
	for _, f := range []fields{{}, {N: &n, S: &s, SS: []string{"<a>", "\xff", ""}}, {SS: []string{}}} {
		b := []byte(`{"a":0`)
		b = AppendIntField(b, `,"n":`, f.N)
		b = AppendIntField(b, `,"s":`, f.S)
		b = append(AppendStringsField(b, `,"ss":`, f.SS), '}')
		if want, _ := json.Marshal(f); string(b) != string(want) {
			t.Errorf("%s, want %s", b, want)
		}
	}
}
