package test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// childProcAttr puts a child in a process group of its own (so that the
// harness can kill the group) and has the kernel SIGKILL it should the test
// binary die without running its cleanups (a test timeout's panic).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// peakRSS is the peak resident set size of process pid (VmHWM), while it
// runs; 0 when it cannot be read.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
