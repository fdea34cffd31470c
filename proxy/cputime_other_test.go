//go:build !unix

package proxy_test

import "time"

// cpuTime returns the CPU time the process has used, or false where it
// cannot tell, as here.
func cpuTime() (time.Duration, bool) { return 0, false }
