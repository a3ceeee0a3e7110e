package gateway_test

import (
	"context"
	"errors"
	"testing"

	"github.com/runnel/runnel/gateway"
	"github.com/runnel/runnel/stream"
)

func TestFallbackUnit(t *testing.T) {
	var tried []string
	target := func(name string, s func() (stream.Stream, error)) gateway.FallbackTarget {
		return gateway.FallbackTarget{Name: name, Model: name + "-model", Provider: stream.ProviderFunc(
			func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
				tried = append(tried, req.Model)
				return s()
			})}
	}
	errEvent := func() (stream.Stream, error) {
		return stream.Slice(stream.ErrorEvent(stream.Errorf(stream.CodeOverloaded, "busy")), stream.Finished(stream.FinishError)), nil
	}
	refuse := func() (stream.Stream, error) { return nil, errors.New("connection refused") }
	serve := func() (stream.Stream, error) {
		return stream.Slice(stream.Delta("hi"), stream.Finished(stream.FinishStop)), nil
	}
	empty := func() (stream.Stream, error) { return stream.Slice(), nil }

	tests := []struct {
		name    string
		targets []gateway.FallbackTarget
		tried   []string
		text    string
		err     string
	}{
		{"error event before the first token", []gateway.FallbackTarget{target("a", errEvent), target("b", serve)},
			[]string{"a-model", "b-model"}, "hi", ""},
		{"transport error", []gateway.FallbackTarget{target("a", refuse), target("b", serve)},
			[]string{"a-model", "b-model"}, "hi", ""},
		{"first serves", []gateway.FallbackTarget{target("a", serve), target("b", refuse)},
			[]string{"a-model"}, "hi", ""},
		{"empty stream counts as served", []gateway.FallbackTarget{target("a", empty), target("b", serve)},
			[]string{"a-model"}, "", ""},
		{"all fail: last error", []gateway.FallbackTarget{target("a", refuse), target("b", errEvent)},
			[]string{"a-model", "b-model"}, "", "overloaded: busy"},
		{"no targets", nil, nil, "", "internal_error: fallback chain with no targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tried = nil
			s, err := (&gateway.Fallback{Targets: tt.targets}).Stream(context.Background(), &stream.Request{Model: "alias"})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if r := stream.Collect(s); r.Text != tt.text {
				t.Fatalf("text %q, want %q", r.Text, tt.text)
			}
			if len(tried) != len(tt.tried) || (len(tried) > 0 && tried[len(tried)-1] != tt.tried[len(tt.tried)-1]) {
				t.Fatalf("tried %v, want %v", tried, tt.tried)
			}
		})
	}

	// A cancelled caller stops the chain.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tried = nil
	_, err := (&gateway.Fallback{Targets: []gateway.FallbackTarget{target("a", refuse), target("b", serve)}}).Stream(ctx, &stream.Request{})
	if e := stream.AsError(err); e == nil || e.Code != stream.CodeCancelled || len(tried) != 1 {
		t.Fatalf("err = %v after %v", err, tried)
	}
}
