//go:build !amd64

package prefetch

func lines(p, n uintptr)                       {}
func fields(base uintptr, offs *uint16, n int) {}
