package dialecttest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/runnel/runnel/stream"
)

// LongPrompts streams from 16 goroutines at once, 20 calls each, every
// call with a long prompt of its goroutine's own letter (9,000 of it):
// provider(letter, n) is the provider for the goroutine's nth call, and
// ok the texts an upstream answers when it got that prompt whole. For
// providers whose request bodies come from a pool (dialect.GetBuffer).
func LongPrompts(t *testing.T, provider func(letter string, n int) stream.Provider, ok ...string) {
	t.Helper()
	const letters = "abcdefghijklmnop"
	errs := make(chan error, len(letters))
	for i := range len(letters) {
		go func() {
			errs <- longPrompts(letters[i:i+1], provider, ok)
		}()
	}
	for range len(letters) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func longPrompts(c string, provider func(letter string, n int) stream.Provider, ok []string) error {
	for n := range 20 {
		s, err := provider(c, n).Stream(context.Background(), &stream.Request{Model: "m", Messages: []stream.Message{{Role: "user", Content: strings.Repeat(c, 9000)}}})
		if err != nil {
			return err
		}
		var text strings.Builder
		for {
			ev, err := s.Recv()
			if err != nil {
				break
			}
			text.WriteString(ev.Text)
		}
		s.Close()
		found := false
		for _, o := range ok {
			found = found || text.String() == o
		}
		if !found {
			return fmt.Errorf("%s: the upstream answered %q", c, text.String())
		}
	}
	return nil
}
