package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the kernel accounts a front's process: its CPU time, its resident
// memory and its open file descriptors, from /proc (Linux); elsewhere
// these figures are not reported.

// clockTicks is the unit of /proc/PID/stat's times: USER_HZ, 100 on every
// Linux architecture.
const clockTicks = 100

// procCPU returns the CPU time, user and system, process pid has used.
func procCPU(pid int) (time.Duration, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	return parseStatCPU(string(data))
}

// parseStatCPU reads utime and stime, the 14th and 15th fields of a
// /proc/PID/stat line; the second field, the command in parentheses, may
// hold spaces.
func parseStatCPU(stat string) (time.Duration, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:]) // from the 3rd field on
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / clockTicks, true
}

// procMem returns process pid's resident memory in bytes and its count of
// open file descriptors.
func procMem(pid int) (rss int64, fds int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for line := range strings.Lines(string(data)) {
		if v, found := strings.CutPrefix(line, "VmRSS:"); found {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, 0, false
			}
			rss = kb << 10
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, false
	}
	return rss, len(ents), true
}
