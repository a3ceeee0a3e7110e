// Package journal keeps call records durable on local disk when they
// cannot reach the store: the account layer appends the records the store
// refused, for the next process on the same data directory to store. A
// record is appended as one line with a single write, which survives the
// process being killed (the kernel holds it), as a commit in SQLite's WAL
// with synchronous=NORMAL does. The next owner stores them and empties the
// file (Entries, then Clear).
//
// One process owns a journal at a time (an exclusive flock): the server
// while it runs. Whoever opens it next, the server restarting or an admin
// command after a crash, replays what was left.
package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by Open while another process owns the journal.
var ErrLocked = errors.New("journal: in use by another process")

// Journal is an append-only file of records, one per line.
type Journal struct {
	mu sync.Mutex
	f  *os.File
}

// Open opens the journal at path, creating it, and takes ownership of it.
// It waits up to wait for another owner to let go, then returns ErrLocked.
func Open(path string, wait time.Duration) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			if err := dropTornLine(f); err != nil {
				f.Close()
				return nil, err
			}
			return &Journal{f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, ErrLocked
			}
			return nil, fmt.Errorf("journal: lock: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dropTornLine cuts off a last line the previous owner did not finish
// (it died mid-write, before its call could end), so that the next record
// starts a line of its own. The file only holds records in flight, so
// reading it whole is cheap.
func dropTornLine(f *os.File) error {
	b, err := os.ReadFile(f.Name())
	if err != nil || len(b) == 0 || b[len(b)-1] == '\n' {
		return err
	}
	return f.Truncate(int64(bytes.LastIndexByte(b, '\n') + 1))
}

// Entries returns the records left by an earlier owner, oldest first.
func (j *Journal) Entries() ([][]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var out [][]byte
	r := bufio.NewReader(j.f)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, line)
		}
	}
}

// Clear empties the journal once its entries (see Entries) are stored.
func (j *Journal) Clear() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Truncate(0)
}

// Append writes rec, which must not contain a newline, as one line.
func (j *Journal) Append(rec []byte) error {
	if bytes.IndexByte(rec, '\n') >= 0 {
		return errors.New("journal: record contains a newline")
	}
	line := make([]byte, 0, len(rec)+1)
	line = append(append(line, rec...), '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := j.f.Write(line)
	return err
}

// Close lets go of the journal. Its records stay in it for the next owner.
func (j *Journal) Close() error {
	return j.f.Close() // closing the descriptor releases the flock
}
