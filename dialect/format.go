package dialect

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/runnel/runnel/stream"
)

// ResponseFormat is OpenAI's response_format object; the native API takes
// the same shape, and the openai upstream sends it.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// DefaultSchemaName names a schema that came without a name (Ollama's
// format has none), since OpenAI requires one.
const DefaultSchemaName = "response"

// ParseResponseFormat validates an OpenAI-shaped response_format found at
// param (the field's path, for errors). Absent or null is nil.
func ParseResponseFormat(raw json.RawMessage, param string) (*stream.ResponseFormat, *stream.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var w struct {
		Type       *string         `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	}
	if raw[0] != '{' || json.Unmarshal(raw, &w) != nil || w.Type == nil {
		return nil, stream.InvalidParam(param, `%s must be an object with a type, like {"type":"json_object"}`, param)
	}
	f := &stream.ResponseFormat{Type: stream.FormatType(*w.Type)}
	switch f.Type {
	case stream.FormatText, stream.FormatJSONObject:
		return f, nil
	case stream.FormatJSONSchema:
	default:
		return nil, stream.InvalidParam(param+".type", "%s.type must be text, json_object or json_schema, got %q", param, *w.Type)
	}
	p := param + ".json_schema"
	js := bytes.TrimSpace(w.JSONSchema)
	var s JSONSchema
	if len(js) == 0 || js[0] != '{' || json.Unmarshal(js, &s) != nil {
		return nil, stream.InvalidParam(p, `%s must be an object like {"name":"...","schema":{...}} when %s.type is json_schema`, p, param)
	}
	if !ValidSchemaName(s.Name) {
		return nil, stream.InvalidParam(p+".name", "%s.name is required: 1 to 64 letters, digits, _ or -", p)
	}
	if sc := bytes.TrimSpace(s.Schema); len(sc) > 0 && !bytes.Equal(sc, []byte("null")) {
		if sc[0] != '{' {
			return nil, stream.InvalidParam(p+".schema", "%s.schema must be a JSON Schema object", p)
		}
		f.Schema = sc
	}
	f.Name, f.Description, f.Strict = s.Name, s.Description, s.Strict
	return f, nil
}

// ValidSchemaName reports whether n is a valid JSON schema name for OpenAI:
// 1 to 64 letters, digits, _ or -.
func ValidSchemaName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range []byte(n) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// FormatParam renames the field of a refused response_format (the
// gateway names it so) to param, the field as the dialect's callers sent
// it.
func FormatParam(e *stream.Error, param string) *stream.Error {
	if e.Param != "response_format" {
		return e
	}
	c := *e
	c.Param = param
	c.Message = strings.Replace(c.Message, "response_format", param, 1)
	return &c
}

// WireResponseFormat returns f in OpenAI's shape, or nil for nil.
func WireResponseFormat(f *stream.ResponseFormat) *ResponseFormat {
	if f == nil {
		return nil
	}
	w := &ResponseFormat{Type: string(f.Type)}
	if f.Type == stream.FormatJSONSchema {
		name := f.Name
		if name == "" {
			name = DefaultSchemaName
		}
		w.JSONSchema = &JSONSchema{Name: name, Description: f.Description, Schema: f.Schema, Strict: f.Strict}
	}
	return w
}
