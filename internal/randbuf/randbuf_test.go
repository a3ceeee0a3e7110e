package randbuf

import (
	"crypto/rand"
	"sync"
	"testing"
)

// TestReadHandsEachByteOutOnce: ids read at once on many goroutines,
// across several blocks, are all different, and none is all zeros (a
// cleared byte handed out again).
func TestReadHandsEachByteOutOnce(t *testing.T) {
	const workers, each = 8, 2000 // 8 × 2000 × 12 bytes: about 47 blocks
	ids := make([][][12]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ids[w] = make([][12]byte, each)
			for i := range each {
				Read(ids[w][i][:])
			}
		})
	}
	wg.Wait()
	seen := make(map[[12]byte]bool, workers*each)
	for _, list := range ids {
		for _, id := range list {
			if id == ([12]byte{}) || seen[id] {
				t.Fatalf("id %x handed out twice or zero", id)
			}
			seen[id] = true
		}
	}
}

// TestReadLong: a read longer than the block's share goes to crypto/rand
// and is filled whole.
func TestReadLong(t *testing.T) {
	b := make([]byte, block*2)
	Read(b)
	zeros := 0
	for _, c := range b {
		if c == 0 {
			zeros++
		}
	}
	if zeros > len(b)/64 {
		t.Fatalf("%d of %d bytes zero", zeros, len(b))
	}
}

// BenchmarkRead: an id's 12 bytes from the block against a crypto/rand
// read of its own.
func BenchmarkRead(b *testing.B) {
	var id [12]byte
	b.Run("block", func(b *testing.B) {
		for b.Loop() {
			Read(id[:])
		}
	})
	b.Run("crypto", func(b *testing.B) {
		for b.Loop() {
			rand.Read(id[:])
		}
	})
}
