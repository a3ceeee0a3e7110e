package resume

import (
	"context"
	"strconv"
	"testing"
)

// An attach message that pub/sub delivers after a newer client attached is
// stale: it takes over neither that client nor a follower that attached
// after it was sent. A newer one takes over both.
func TestStaleAttachTakesOverNothing(t *testing.T) {
	r, _ := newTest(Options{})
	s, _ := r.Open("", "k", func() {})
	c, _ := s.Attach(0)
	sh := &sharing{r: r, followers: map[string]map[*remoteClient]struct{}{}}
	follower := &remoteClient{sh: sh, id: s.ID(), nonce: "f", since: s.attached, stop: make(chan struct{})}
	sh.followers[s.ID()] = map[*remoteClient]struct{}{follower: {}}
	msg := func(at int64) string { return ctlAttach + "|" + s.ID() + "|other|" + strconv.FormatInt(at, 10) }

	sh.handle(msg(s.attached - 1))
	s.mu.Lock()
	taken, remote := c.takenOver, s.remote
	s.mu.Unlock()
	if taken || remote != "" || follower.err != nil {
		t.Fatalf("a stale attach took over: local %v, remote %q, follower %v", taken, remote, follower.err)
	}

	sh.handle(msg(s.attached + 1))
	if _, err := c.Next(context.Background(), nil); err != ErrTakenOver {
		t.Fatalf("local client after a newer attach: %v, want ErrTakenOver", err)
	}
	if follower.err != ErrTakenOver {
		t.Fatalf("follower after a newer attach: %v, want ErrTakenOver", follower.err)
	}
	c.Close()
}
