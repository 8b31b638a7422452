//go:build unix && !linux

package test

import "syscall"

// childProcAttr puts a child in a process group of its own, so that the
// harness can kill the group.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// peakRSS is unknown here (Linux reads /proc/<pid>/status).
func peakRSS(int) int64 { return 0 }
