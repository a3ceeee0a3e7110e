package cluster_test

import (
	"context"
	"testing"
	"time"
)

// The replica serving a resumable stream is killed and its client never
// comes back: another replica's sweeper finds the stream, ends its log
// with the interruption and records the call once, with the usage of
// what was served and its cost; the team's spend shows it. A client
// reconnecting afterwards reads the interruption, and nothing more is
// recorded.
func TestReplicaDiesUnreadRecordedOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), deadlock)
	defer cancel()
	in := interruptCall(t, ctx) // and no reconnect
	base := in.c.Replicas[1].BaseURL
	for len(calls(t, base, in.team)) == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("no replica recorded the call of the killed replica's stream (deadlock guard)")
		case <-time.After(100 * time.Millisecond): // between polls
		}
	}
	in.recordedOnce(t, base)

	// A late reconnect gets the interruption from the log: no new text,
	// no second record.
	in.resumeInterrupted(t, ctx, in.c.Replicas[2].BaseURL)
	in.recordedOnce(t, in.c.Replicas[2].BaseURL)
}
