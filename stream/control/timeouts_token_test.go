package control

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/runnel/runnel/stream"
)

// TestTimeoutsTokenPath: over a source with a token path, the timeouts
// pass tokens through it (tokenTimeouts), and an idle timeout that fires
// while RecvToken waits ends the stream as it does while Recv waits.
func TestTimeoutsTokenPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := Options{BufferSize: -1, Timeouts: stream.Timeouts{Idle: time.Second, Total: time.Hour}}
		read := func(tokens bool) ([]string, int) {
			var p stream.Provider = &script{events: []stream.Event{stream.Delta("a"), stream.Delta("b"), stream.Delta("c"), stream.Delta("d")}, hang: true}
			if tokens {
				p = tokenProvider{p}
			}
			return renderTokens(t, stream.ProviderFunc(func(ctx context.Context, req *stream.Request) (stream.Stream, error) {
				return new(Text).Open(ctx, p, o, req)
			}), tokens, nil)
		}
		want, _ := read(false)
		got, n := read(true)
		if !slices.Equal(got, want) || n == 0 {
			t.Fatalf("with the token path (%d tokens through it) %q, want %q", n, got, want)
		}
		if !strings.Contains(strings.Join(want, " "), "idle timeout") {
			t.Fatalf("no idle timeout: %q", want)
		}
	})
}
