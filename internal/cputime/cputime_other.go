//go:build !unix

// Package cputime reads the CPU time the process has used, for
// benchmarks that report work per CPU second.
package cputime

import "time"

// Process is 0 where the platform does not report it.
func Process() time.Duration { return 0 }
