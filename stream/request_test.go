package stream

import (
	"encoding/json"
	"testing"
)

func TestCloneResponseFormat(t *testing.T) {
	strict := true
	r := &Request{Model: "m", ResponseFormat: &ResponseFormat{
		Type: FormatJSONSchema, Name: "person", Schema: json.RawMessage(`{"type":"object"}`), Strict: &strict,
	}}
	c := r.Clone()
	c.ResponseFormat.Name = "other"
	c.ResponseFormat.Schema[2] = 'X'
	*c.ResponseFormat.Strict = false
	c.ResponseFormat.Type = FormatText

	f := r.ResponseFormat
	if f.Type != FormatJSONSchema || f.Name != "person" || string(f.Schema) != `{"type":"object"}` || !*f.Strict {
		t.Errorf("mutating the clone changed the original: %+v (schema %s, strict %v)", f, f.Schema, *f.Strict)
	}
	if (&Request{}).Clone().ResponseFormat != nil {
		t.Error("a request without a format cloned to one with a format")
	}
}

func TestIsJSON(t *testing.T) {
	for f, want := range map[*ResponseFormat]bool{
		nil:                             false,
		{Type: FormatText}:              false,
		{Type: FormatJSONObject}:        true,
		{Type: FormatJSONSchema}:        true,
		{Type: FormatType("something")}: false,
	} {
		if got := f.IsJSON(); got != want {
			t.Errorf("%+v.IsJSON() = %v, want %v", f, got, want)
		}
	}
}
