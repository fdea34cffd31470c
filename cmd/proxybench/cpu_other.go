//go:build !unix

package main

import "time"

// cpuTime returns the CPU time the process has used, or false where it
// cannot tell, as here.
func cpuTime() (time.Duration, bool) { return 0, false }
