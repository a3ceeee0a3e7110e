package dialecttest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel/runnel/stream"
)

// Fixture returns the contents of testdata/name, the byte-exact wire output
// the upstream tests replay.
func Fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ReadAll reads s to its end, closes it, and returns its events and the
// error that ended it, if any (io.EOF is not an error here).
func ReadAll(s stream.Stream) ([]stream.Event, error) {
	defer s.Close()
	var evs []stream.Event
	for ev, err := range stream.Events(s) {
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}
