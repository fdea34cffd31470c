package main

import (
	"fmt"
	"os"
	"runtime"
)

// warnReadableConfig says, on one line naming the file (never a word of
// it), when the INI file at path may be read by group or others: it holds
// every key. Windows has no such modes to read.
func (a *app) warnReadableConfig(path string) {
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return
	}
	a.logger.Warn("the INI file of keys is readable by group or others: run chmod go-rw on it",
		"file", path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
}
