//go:build unix

// Package cputime reads the CPU time the process has used, for
// benchmarks that report work per CPU second: on a machine that other
// jobs load, that measures the work where wall time measures mostly the
// share of the cores a run got.
package cputime

import (
	"syscall"
	"time"
)

// Process is the CPU time the process has used, user and system.
func Process() time.Duration {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
