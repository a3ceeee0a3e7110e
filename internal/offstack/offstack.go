// Package offstack runs a deep call on a short-lived goroutine, so that the
// calling goroutine's stack does not grow for it.
//
// A goroutine's stack only grows while it runs (and shrinks, at a
// collection, only to a quarter used), so one deep call early in a
// long-lived goroutine's life costs its size for as long as the goroutine
// lives. A streamed response's handler runs for the whole stream, and its
// first flush makes net/http write the response headers (writeHeader, a
// 2.8 KiB frame with more below it): run there, it doubles the handler's
// stack from 8 to 16 KiB for the rest of the stream. Run here, the deep
// frames live on a goroutine that ends at once and leaves its stack to the
// next.
package offstack

// Run calls f on a new goroutine and waits for it to return. A panic in f
// is raised again in the caller, so that the caller's recovery (the HTTP
// server's) sees it. f must not rely on running on the caller's goroutine.
func Run(f func()) {
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	if p := <-done; p != nil {
		panic(p)
	}
}
