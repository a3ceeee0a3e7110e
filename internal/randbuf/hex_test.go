package randbuf

import (
	"encoding/hex"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// refEncode is encode's order of the nibbles through hex's digits.
func refEncode(b *[12]byte) string {
	var d []byte
	for i := range 8 {
		d = append(d, b[i]&15)
	}
	for i := range 8 {
		d = append(d, b[i]>>4)
	}
	for i := 8; i < 12; i++ {
		d = append(d, b[i]&15)
	}
	for i := 8; i < 12; i++ {
		d = append(d, b[i]>>4)
	}
	var s strings.Builder
	for _, n := range d {
		s.WriteByte("0123456789abcdef"[n])
	}
	return s.String()
}

// TestEncodeIsHexOfTheNibbles: every byte value in every place is
// written as its nibbles' hex digits.
func TestEncodeIsHexOfTheNibbles(t *testing.T) {
	for v := range 256 {
		for at := range 12 {
			var b [12]byte
			for i := range b {
				b[i] = byte(v + 37*i)
			}
			b[at] = byte(v)
			var got [24]byte
			encode(&got, &b)
			if want := refEncode(&b); string(got[:]) != want {
				t.Fatalf("encode(%x) = %s, want %s", b, got, want)
			}
		}
	}
}

// FuzzEncode: encode is hex's digits of the nibbles, and each id names
// its bytes alone (they are read back from it).
func FuzzEncode(f *testing.F) {
	f.Add([]byte("0123456789ab"))
	f.Add(make([]byte, 12))
	f.Fuzz(func(t *testing.T, in []byte) {
		var b [12]byte
		copy(b[:], in)
		var got [24]byte
		encode(&got, &b)
		if want := refEncode(&b); string(got[:]) != want {
			t.Fatalf("encode(%x) = %s, want %s", b, got, want)
		}
		n, err := hex.DecodeString("0" + strings.Join(strings.Split(string(got[:]), ""), "0"))
		if err != nil || len(n) != 24 {
			t.Fatalf("%s: not 24 hex digits", got)
		}
		var back [12]byte
		for i := range 8 {
			back[i] = n[i] | n[8+i]<<4
		}
		for i := range 4 {
			back[8+i] = n[16+i] | n[20+i]<<4
		}
		if back != b {
			t.Fatalf("%x encoded as %s, read back as %x", b, got, back)
		}
	})
}

var callID = regexp.MustCompile(`^call_[0-9a-f]{24}$`)

// prefixedIDs returns n ids of p made on workers goroutines at once.
func prefixedIDs(p *Prefixed, workers, n int) []string {
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range n / workers {
				ids[w] = append(ids[w], p.Next())
			}
		})
	}
	wg.Wait()
	var all []string
	for _, l := range ids {
		all = append(all, l...)
	}
	return all
}

// TestPrefixedUnique: ids made at once on many goroutines, across many
// blocks, have the prefix and 24 hex digits, and all differ.
func TestPrefixedUnique(t *testing.T) {
	p := NewPrefixed("call_")
	seen := map[string]bool{}
	for _, id := range prefixedIDs(p, 8, 16000) {
		if !callID.MatchString(id) || seen[id] {
			t.Fatalf("id %q malformed or handed out twice", id)
		}
		seen[id] = true
	}
}

// TestPrefixedAcrossProcesses: two processes (this one and a child, as
// two replicas or a restart) make no id in common.
func TestPrefixedAcrossProcesses(t *testing.T) {
	if os.Getenv("RANDBUF_CHILD") == "1" {
		for _, id := range prefixedIDs(NewPrefixed("call_"), 1, 5000) {
			os.Stdout.WriteString(id + "\n")
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestPrefixedAcrossProcesses$")
	cmd.Env = append(os.Environ(), "RANDBUF_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	child := strings.Fields(string(out))
	if len(child) != 5000 {
		t.Fatalf("child made %d ids, want 5000", len(child))
	}
	mine := map[string]bool{}
	for _, id := range prefixedIDs(NewPrefixed("call_"), 1, 5000) {
		mine[id] = true
	}
	for _, id := range child {
		if !callID.MatchString(id) || mine[id] {
			t.Fatalf("child's id %q malformed or made here too", id)
		}
	}
}

// TestHex: 24 hex digits, different each time.
func TestHex(t *testing.T) {
	var a, b [24]byte
	Hex(&a)
	Hex(&b)
	hexDigits := regexp.MustCompile(`^[0-9a-f]{24}$`)
	if !hexDigits.Match(a[:]) || !hexDigits.Match(b[:]) || a == b {
		t.Fatalf("ids %s and %s", a, b)
	}
}

var sink string

// BenchmarkIDs: a call id from a block against one made as it was
// (crypto bytes from the shared block, hex.Encode, a string of its own).
func BenchmarkIDs(b *testing.B) {
	b.Run("prefixed", func(b *testing.B) {
		p := NewPrefixed("call_")
		for b.Loop() {
			sink = p.Next()
		}
	})
	b.Run("hexEncode", func(b *testing.B) {
		for b.Loop() {
			var r [12]byte
			Read(r[:])
			var id [5 + 24]byte
			copy(id[:], "call_")
			hex.Encode(id[5:], r[:])
			sink = string(id[:])
		}
	})
}
