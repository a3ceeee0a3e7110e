package harness

import "syscall"

// Kill9 kills the server with SIGKILL, as a crash would, and waits until
// it has exited: nothing of it runs after Kill9 returns.
func (s *Server) Kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}
