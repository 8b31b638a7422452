package test

import "syscall"

// childProcAttr puts a child in a process group of its own (so that the
// harness can kill the group) and has the kernel SIGKILL it should the test
// binary die without running its cleanups (a test timeout's panic).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
