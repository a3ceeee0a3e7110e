package gateway_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// recorder serves "ok" and keeps the format each call arrived with.
type recorder struct {
	calls   []string // model of each call
	formats []*stream.ResponseFormat
}

func (r *recorder) Stream(ctx context.Context, req *stream.Request) (stream.Stream, error) {
	r.calls = append(r.calls, req.Model)
	r.formats = append(r.formats, req.ResponseFormat)
	return stream.Slice(stream.Delta("ok"), stream.Finished(stream.FinishStop)), nil
}

// jsonCapable can honour every format.
type jsonCapable struct{ *recorder }

func (jsonCapable) CanFormat(string, stream.FormatType) bool { return true }

func TestResponseFormatRouting(t *testing.T) {
	plain, plain2, capable := &recorder{}, &recorder{}, &recorder{}
	r := gateway.NewStaticRouter()
	r.Register("plain", plain)
	r.Register("plain2", plain2)
	r.Register("json", jsonCapable{capable})
	r.Alias("chain", gateway.Target{Provider: "plain", Model: "p"}, gateway.Target{Provider: "json", Model: "j"})
	r.Alias("textonly", gateway.Target{Provider: "plain", Model: "p"}, gateway.Target{Provider: "plain2", Model: "q"})
	g := gateway.New(gateway.Options{Router: r})

	schema := &stream.ResponseFormat{Type: stream.FormatJSONSchema, Name: "x", Schema: json.RawMessage(`{"type":"object"}`)}
	tests := []struct {
		name, model string
		format      *stream.ResponseFormat
		err         string
		served      *recorder
		servedName  string // the call's provider
		servedModel string
	}{
		{"text is always accepted", "plain/m", &stream.ResponseFormat{Type: stream.FormatText}, "", plain, "plain", "m"},
		{"a provider without FormatChecker refuses json_object", "plain/m", &stream.ResponseFormat{Type: stream.FormatJSONObject},
			"response_format json_object is not supported by provider plain: it cannot constrain its output to JSON", nil, "", ""},
		{"a capable provider gets the format", "json/m", schema, "", capable, "json", "m"},
		{"a chain skips the target that cannot", "chain", schema, "", capable, "json", "j"},
		{"a chain where none can is a 400 naming them", "textonly", schema,
			"response_format json_schema is not supported by provider plain, plain2: it cannot constrain its output to JSON", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []*recorder{plain, plain2, capable} {
				p.calls, p.formats = nil, nil
			}
			c, err := g.Start(context.Background(), &stream.Request{Model: tt.model, ResponseFormat: tt.format,
				Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}})
			if tt.err != "" {
				e := stream.AsError(err)
				if err == nil || e.Message != tt.err || e.Param != "response_format" || e.Code != stream.CodeInvalidRequest {
					t.Fatalf("err = %v (param %q), want %s", err, e.Param, tt.err)
				}
				if len(plain.calls)+len(plain2.calls)+len(capable.calls) != 0 {
					t.Fatal("a provider was called for a refused format")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res := stream.Collect(c); res.Text != "ok" {
				t.Fatalf("text %q", res.Text)
			}
			c.Close()
			for _, p := range []*recorder{plain, plain2, capable} {
				if p != tt.served && len(p.calls) > 0 {
					t.Fatalf("a provider other than the served one was called: %v", p.calls)
				}
			}
			if len(tt.served.calls) != 1 || tt.served.calls[0] != tt.servedModel || tt.served.formats[0] == nil || tt.served.formats[0].Type != tt.format.Type {
				t.Fatalf("served calls %v formats %v", tt.served.calls, tt.served.formats)
			}
			if c.Provider != tt.servedName || c.Model != tt.servedModel {
				t.Fatalf("call served by %s/%s, want %s/%s", c.Provider, c.Model, tt.servedName, tt.servedModel)
			}
		})
	}
}
