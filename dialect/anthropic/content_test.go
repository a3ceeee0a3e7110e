package anthropic

import (
	"encoding/json"
	"reflect"
	"testing"
)

// contents are message contents, those Content.lite must take first.
var contents = []string{
	`"Tell me a story."`, `"\u00e9 \n é"`, `""`, `[]`, `[ ]`,
	`[{"type":"text","text":"Tell me a story."}]`,
	`[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"text":null,"type":"text"}]`,
	`[{"type":"text","text":"a","type":"image"}]`,
	// Left to encoding/json.
	`[{"type":"tool_use","id":"t","name":"f","input":{}}]`, `[{"Type":"text"}]`, `[null]`, `[{"type":"text","text":5}]`,
	`[{"type":"text"},]`, `"a`, `[{"type":"text","ſignature":"x"}]`, `5`, `{}`,
}

// contentJSON is what Content.UnmarshalJSON made of b with encoding/json
// alone.
func contentJSON(b []byte) (Content, error) {
	var c Content
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return Content{}, err
		}
		c.text, c.Blocks = &s, []Block{{Type: "text", Text: s}}
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &c.Blocks); err != nil {
			return c, err
		}
	default:
		return c, json.Unmarshal([]byte(`5`), &c.Blocks)
	}
	return c, nil
}

// TestContentLite: strings and lists of text blocks are read without
// encoding/json; others are not.
func TestContentLite(t *testing.T) {
	for i, data := range contents {
		var c Content
		if took := c.lite(data); took != (i < 8) {
			t.Errorf("%s: taken %v", data, took)
		}
	}
}

// FuzzContent: a message's content decodes as it did with encoding/json
// alone (UnmarshalJSON is given valid JSON only).
func FuzzContent(f *testing.F) {
	for _, data := range contents {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if !json.Valid([]byte(data)) {
			return
		}
		var got Content
		err := got.UnmarshalJSON([]byte(data))
		want, werr := contentJSON([]byte(data))
		if (err == nil) != (werr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %+v %v, want %+v %v", data, got, err, want, werr)
		}
	})
}
