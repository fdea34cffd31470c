//go:build !unix

package fpsecret

// private refuses nothing: there are no Unix modes to check.
func private(path string) error { return nil }
