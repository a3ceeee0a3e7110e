package prefetch

// lines prefetches the lines from p's to that of p+n-1 (n > 0).
//
//go:noescape
func lines(p, n uintptr)

// fields prefetches the line of base+offs[i] for each i < n (n > 0),
// skipping one that is the line before it.
//
//go:noescape
func fields(base uintptr, offs *uint16, n int)
