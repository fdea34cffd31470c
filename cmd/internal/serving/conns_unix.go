//go:build unix

package serving

import "syscall"

// defaultConns is the connections serve takes at once by default: what
// the process's file descriptors allow at three a connection (the Go
// runtime raises the soft limit to the hard one at start), less some for
// the store, the logs and the listener; 1,000 if the limit is unknown.
func defaultConns() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return 1000 // unknown, or unlimited
	}
	const reserve, perConn = 64, 3
	return int(max((int64(l.Cur)-reserve)/perConn, 16))
}
