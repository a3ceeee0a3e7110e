package offstack

import (
	"runtime"
	"strings"
	"testing"
)

// f runs on another goroutine, Run returns only after it, and its panics
// reach the caller.
func TestRun(t *testing.T) {
	caller := goroutineID()
	var ran string
	Run(func() { ran = goroutineID() })
	if ran == "" || ran == caller {
		t.Fatalf("f ran on goroutine %q, the caller is %q", ran, caller)
	}
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the panic of f", p)
		}
	}()
	Run(func() { panic("boom") })
	t.Fatal("Run returned after f panicked")
}

func goroutineID() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(b), "goroutine "), " ")
	return id
}
