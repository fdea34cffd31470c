//go:build unix

// Package cputime tells the CPU time the process has used, for benchmarks
// that report it beside wall time (a loaded machine disturbs it less).
package cputime

import (
	"syscall"
	"time"
)

// Process returns the CPU time the process has used, user and system, or
// false where it cannot tell.
func Process() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
