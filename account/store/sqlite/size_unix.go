//go:build unix

package sqlite

import "syscall"

// fileSize is the size of the file at path. Every request with a key
// reads the change marker's (marker.Version): a stat system call alone,
// without the FileInfo os.Stat builds on the heap.
func fileSize(path string) (int64, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Stat(path, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err // syscall.ENOENT is fs.ErrNotExist
		}
		return st.Size, nil
	}
}
