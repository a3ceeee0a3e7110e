package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
)

// marker announces changes to keys and teams between processes sharing
// the database file (a running server and the CLI): each change appends a
// byte to a file beside it, and its size is the version. A stat costs a
// microsecond where the key lookup it spares costs a query; appends are
// atomic, so a change is visible to the next stat in any process.
type marker struct{ path string }

func (m marker) Version() (uint64, bool) {
	size, err := fileSize(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, true
	}
	if err != nil {
		return 0, false
	}
	return uint64(size), true
}

func (m marker) Changed(context.Context) error {
	f, err := os.OpenFile(m.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte{'.'})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
