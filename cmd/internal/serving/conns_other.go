//go:build !unix

package serving

// defaultConns is the connections serve takes at once by default.
func defaultConns() int { return 1000 }
