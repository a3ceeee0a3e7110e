package dialect

import (
	"strings"
	"testing"
)

// signalBody is a body whose Close says so on done.
type signalBody struct {
	*strings.Reader
	done chan struct{}
}

func (b *signalBody) Close() error { b.done <- struct{}{}; return nil }

// A drain's goroutine starts without a closure of its own (runDrain):
// Close allocates nothing.
func TestDrainCloseAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := strings.NewReader("")
	body := &signalBody{Reader: r, done: make(chan struct{})}
	d := new(Drain)
	n := testing.AllocsPerRun(100, func() {
		*d = Drain{}
		r.Reset("0\r\n\r\n")
		d.Close(body, false)
		<-body.done
	})
	if n != 0 {
		t.Errorf("Drain.Close: %v allocations, want 0", n)
	}
}
