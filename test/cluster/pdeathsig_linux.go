package cluster

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the replica if the test process dies
// without running its cleanups (a panic, a timeout).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
