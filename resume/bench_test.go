package resume_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/runnel/runnel/resume"
)

// tokenFrame is about the size of one OpenAI chunk event.
var tokenFrame = func() []byte {
	b := []byte("id: rs_00000000000000000000000000000000-1\ndata: ")
	for len(b) < 199 {
		b = append(b, 'x')
	}
	return append(b, '\n')
}()

// BenchmarkAppend is the producer's cost per frame of a resumable stream:
// in memory, and also in Redis (one round trip per frame).
func BenchmarkAppend(b *testing.B) {
	// redis+note: each frame also carries a note of the size the dialect
	// layer logs for a token (its content event), for a replica that
	// takes the stream over.
	note := []byte(`{"t":" token"}` + "\n")
	for _, c := range []struct {
		name         string
		shared, note bool
	}{{"memory", false, false}, {"redis", true, false}, {"redis+note", true, true}} {
		shared := c.shared
		b.Run(c.name, func(b *testing.B) {
			var reg *resume.Registry
			if shared {
				reg = replicas(b, 1, resume.Options{MaxBytes: 1 << 30})[0]
			} else {
				reg = resume.NewRegistry(resume.Options{MaxBytes: 1 << 30})
			}
			s, _ := reg.Open("", "k", func() {})
			b.SetBytes(int64(len(tokenFrame)))
			b.ResetTimer()
			for i := range b.N {
				if c.note {
					s.Note(note)
				}
				if err := s.Append(uint64(i+1), tokenFrame); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			s.Cancel()
		})
	}
}

// BenchmarkFinishedStreams writes n finished streams of 1 MiB each (in
// 200-byte frames) and reports the heap they leave behind after a GC:
// in memory under the default budget, in memory with no budget (as before
// there was one: the baseline), and with their logs in Redis.
func BenchmarkFinishedStreams(b *testing.B) {
	for _, c := range []struct {
		name   string
		shared bool
		n      int
		budget int64
	}{{"memory/1000", false, 1000, 0}, {"unbounded/1000", false, 1000, 1 << 40}, {"redis/50", true, 50, 0}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				var reg *resume.Registry
				o := resume.Options{Retain: time.Hour, Budget: c.budget}
				if c.shared {
					reg = replicas(b, 1, o)[0]
				} else {
					reg = resume.NewRegistry(o)
				}
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				for range c.n {
					s, err := reg.Open("", "k", func() {})
					if err != nil {
						b.Fatal(err)
					}
					for seq := uint64(1); seq <= (1<<20)/uint64(len(tokenFrame)); seq++ {
						if err := s.Append(seq, tokenFrame); err != nil {
							b.Fatal(fmt.Errorf("stream %s event %d: %w", s.ID(), seq, err))
						}
					}
					s.Finish()
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "heap-MiB")
				b.ReportMetric(float64(reg.Held())/(1<<20), "held-MiB")
				b.ReportMetric(float64(reg.Len()), "sessions")
				runtime.KeepAlive(reg)
			}
		})
	}
}
