//go:build unix && !linux

package test

import "syscall"

// childProcAttr puts a child in a process group of its own, so that the
// harness can kill the group.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
