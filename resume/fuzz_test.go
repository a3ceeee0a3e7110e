package resume

import (
	"strings"
	"testing"
)

// FuzzControl feeds arbitrary control messages (as another replica, or
// anyone with access to the Redis channel, could publish) to a registry:
// nothing panics, and only "cancel|<its id>|…" cancels a session.
func FuzzControl(f *testing.F) {
	for _, seed := range []string{"cancel|%s|", "attach|%s|abc", "detach|%s|abc", "attach|%s|", "", "|||", "cancel", "detach|%s", "cancel|rs_x|"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		r, _ := newTest(Options{})
		cancelled := false
		s, _ := r.Open("", "k", func() { cancelled = true })
		c, _ := s.Attach(0)
		msg = strings.ReplaceAll(msg, "%s", s.ID())
		sh := &sharing{r: r, followers: map[string]map[*remoteClient]struct{}{}}
		sh.handle(msg)
		verb, rest, _ := strings.Cut(msg, "|")
		id, _, _ := strings.Cut(rest, "|")
		if want := verb == ctlCancel && id == s.ID(); cancelled != want {
			t.Fatalf("%q: cancelled %v, want %v", msg, cancelled, want)
		}
		c.Close()
	})
}
