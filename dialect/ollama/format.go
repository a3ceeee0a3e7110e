package ollama

import (
	"bytes"
	"encoding/json"

	"github.com/runnel/runnel/dialect"
	"github.com/runnel/runnel/stream"
)

// parseFormat maps Ollama's format: "json" asks for any JSON value, an
// object is a JSON Schema the answer must match; absent, null and "" are
// free text, as in Ollama.
func parseFormat(raw json.RawMessage) (*stream.ResponseFormat, *stream.Error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0, bytes.Equal(raw, []byte("null")), bytes.Equal(raw, []byte(`""`)):
		return nil, nil
	case bytes.Equal(raw, []byte(`"json"`)):
		return &stream.ResponseFormat{Type: stream.FormatJSONObject}, nil
	case raw[0] == '{' && json.Valid(raw):
		return &stream.ResponseFormat{Type: stream.FormatJSONSchema, Schema: raw}, nil
	}
	return nil, stream.InvalidParam("format", `format must be "json" or a JSON schema object`)
}

// wireFormat is f as Ollama's format, or nil for free text. A json_schema
// without a schema (OpenAI allows one) can only ask for JSON.
func wireFormat(f *stream.ResponseFormat) json.RawMessage {
	switch {
	case !f.IsJSON():
		return nil
	case f.Type == stream.FormatJSONSchema && len(f.Schema) > 0:
		return f.Schema
	}
	return json.RawMessage(`"json"`)
}

// formatError names the field as Ollama's callers sent it: the gateway
// reports an unsupported format as response_format.
func formatError(e *stream.Error) *stream.Error { return dialect.FormatParam(e, "format") }
