package gateway_test

import (
	"context"
	"testing"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

// logprobsCapable reports logprobs for every model.
type logprobsCapable struct{ *recorder }

func (logprobsCapable) CanLogprobs(string) bool { return true }

// both honours every format and reports logprobs.
type both struct{ *recorder }

func (both) CanFormat(string, stream.FormatType) bool { return true }
func (both) CanLogprobs(string) bool                  { return true }

func TestLogprobsRouting(t *testing.T) {
	plain, lp, js, all := &recorder{}, &recorder{}, &recorder{}, &recorder{}
	r := gateway.NewStaticRouter()
	r.Register("plain", plain)
	r.Register("lp", logprobsCapable{lp})
	r.Register("json", jsonCapable{js})
	r.Register("all", both{all})
	r.Alias("chain", gateway.Target{Provider: "plain", Model: "p"}, gateway.Target{Provider: "lp", Model: "l"})
	r.Alias("none", gateway.Target{Provider: "plain", Model: "p"}, gateway.Target{Provider: "json", Model: "j"})
	r.Alias("mixed", gateway.Target{Provider: "lp", Model: "l"}, gateway.Target{Provider: "json", Model: "j"}, gateway.Target{Provider: "all", Model: "a"})
	g := gateway.New(gateway.Options{Router: r})
	recorders := []*recorder{plain, lp, js, all}

	tests := []struct {
		name, model string
		json        bool // also ask for a JSON format
		err         string
		param       string
		served      *recorder
		servedName  string
		servedModel string
	}{
		{"a provider without LogprobsChecker refuses", "plain/m", false,
			"logprobs is not supported by provider plain: it does not report token log probabilities", "logprobs", nil, "", ""},
		{"a capable provider serves", "lp/m", false, "", "", lp, "lp", "m"},
		{"a chain skips the target that cannot", "chain", false, "", "", lp, "lp", "l"},
		{"a chain where none can is a 400 naming them", "none", false,
			"logprobs is not supported by provider plain, json: it does not report token log probabilities", "logprobs", nil, "", ""},
		{"format and logprobs narrow together", "mixed", true, "", "", all, "all", "a"},
		{"a format-capable provider without logprobs refuses", "json/m", true,
			"logprobs is not supported by provider json: it does not report token log probabilities", "logprobs", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range recorders {
				p.calls, p.formats = nil, nil
			}
			req := &stream.Request{Model: tt.model, Sampling: stream.Sampling{Logprobs: true, TopLogprobs: 2},
				Messages: []stream.Message{{Role: stream.RoleUser, Content: "hi"}}}
			if tt.json {
				req.ResponseFormat = &stream.ResponseFormat{Type: stream.FormatJSONObject}
			}
			c, err := g.Start(context.Background(), req)
			if tt.err != "" {
				e := stream.AsError(err)
				if err == nil || e.Message != tt.err || e.Param != tt.param || e.Code != stream.CodeInvalidRequest {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				for _, p := range recorders {
					if len(p.calls) != 0 {
						t.Fatal("a provider was called for a refused request")
					}
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
			for _, p := range recorders {
				if p != tt.served && len(p.calls) > 0 {
					t.Fatalf("a provider other than the served one was called: %v", p.calls)
				}
			}
			if len(tt.served.calls) != 1 || tt.served.calls[0] != tt.servedModel {
				t.Fatalf("served calls %v", tt.served.calls)
			}
			if c.Provider != tt.servedName || c.Model != tt.servedModel {
				t.Fatalf("call served by %s/%s, want %s/%s", c.Provider, c.Model, tt.servedName, tt.servedModel)
			}
		})
	}
}
