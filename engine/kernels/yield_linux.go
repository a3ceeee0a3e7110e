package kernels

import "syscall"

// osYield gives this thread's core to another runnable thread, if the
// kernel has one queued there (sched_yield).
func osYield() { syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
