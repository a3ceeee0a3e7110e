package redislog

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/runnel/runnel/resume"
)

// BenchmarkLifecycle is a short stream's life in Redis: Create, one
// event, End. What the sweeper's index adds to a stream is here (the sets
// written by Create and cleared by End); nothing is added per event.
func BenchmarkLifecycle(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	frame := []byte("id: x\ndata: {}\n\n")
	for i := 0; b.Loop(); i++ {
		id := "rs_" + strconv.Itoa(i)
		if err := s.Create(ctx, id, resume.Meta{Owner: "o", Kind: "k", Replica: "r1"}, time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := s.Append(ctx, id, 1, frame, nil, 0); err != nil {
			b.Fatal(err)
		}
		if err := s.End(ctx, id, "r1", "done", time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
