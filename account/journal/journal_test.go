package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "calls.journal")
	j, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	// One owner at a time.
	if _, err := Open(path, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	for _, r := range []string{`{"id":1}`, `{"id":2}`, `{"id":3}`} {
		if err := j.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Append([]byte("a\nb")); err == nil {
		t.Fatal("a record with a newline was appended")
	}
	if b, _ := os.ReadFile(path); string(b) != "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n" {
		t.Fatalf("journal after three appends: %q", b)
	}
	// The owner dies mid-way through writing a fourth.
	j.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":4,"torn`)
	f.Close()

	j, err = Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	es, err := j.Entries()
	if err != nil {
		t.Fatal(err)
	}
	// A record appended now starts its own line.
	j.Append([]byte(`{"id":6}`))
	if b, _ := os.ReadFile(path); !strings.HasSuffix(string(b), "{\"id\":3}\n{\"id\":6}\n") {
		t.Fatalf("append after a torn line: %q", b)
	}
	var got []string
	for _, e := range es {
		got = append(got, string(e))
	}
	if strings.Join(got, " ") != `{"id":1} {"id":2} {"id":3}` {
		t.Fatalf("entries %q: want the three whole lines, without the torn one", got)
	}
	// Emptied once the entries are stored.
	if err := j.Clear(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Fatalf("after Clear: %q", b)
	}
	j.Append([]byte(`{"id":5}`))
	if b, _ := os.ReadFile(path); string(b) != "{\"id\":5}\n" {
		t.Fatalf("after Clear and one append: %q", b)
	}
}

// FuzzEntries: whatever a crashed owner left in the file, the next owner
// reads whole lines only, never a torn one, and its own records start
// lines of their own.
func FuzzEntries(f *testing.F) {
	f.Add([]byte("{\"id\":1}\n{\"id\":2}\n"))
	f.Add([]byte("{\"id\":1}\n{\"id\":2,\"to"))
	f.Add([]byte("\n\n  \nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := Open(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		es, err := j.Entries()
		if err != nil {
			t.Fatal(err)
		}
		whole := b[:bytes.LastIndexByte(b, '\n')+1]
		n := 0
		for _, line := range bytes.Split(whole, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				n++
			}
		}
		if len(es) != n {
			t.Fatalf("%d entries from %q, want the %d non-blank whole lines", len(es), b, n)
		}
		for _, e := range es {
			if len(e) == 0 || bytes.IndexByte(e, '\n') >= 0 {
				t.Fatalf("entry %q", e)
			}
		}
		if err := j.Append([]byte("rec")); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if !bytes.HasSuffix(got, []byte("\nrec\n")) && string(got) != "rec\n" {
			t.Fatalf("after an append: %q", got)
		}
	})
}
