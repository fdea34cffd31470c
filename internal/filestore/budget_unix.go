//go:build unix

package filestore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The counter table keeps a connector's budget counters (see SpendBudget)
// in DIR/CONNECTOR/budget.table, a file every process maps into memory:
// after a 64-byte header (its version), 32-byte entries of a name's
// 64-bit hash (0: never used), its window's start and end (Unix
// nanoseconds) and its count. A name is found by open addressing from its
// hash, at most counterProbe entries on; an entry whose window ended
// before the window asked for starts is taken for another name, so the
// table holds the budgets in use in the last day. Two names of one hash
// would share a count (1 chance in 2^64 per pair).
//
// A spend reads and writes its entries under an exclusive flock on the
// file, kept open for the store's life: two system calls, whatever the
// number of keys. A holder killed in its midst leaves at most one of its
// counters counted. When a counter finds no room (more than about 8,000
// budgets in use at once) or the file cannot be had, the caller counts
// in state.json instead (ErrNoCounterRoom), and adds both.
const (
	counterHeader    = 64
	counterEntrySize = 32
	counterEntries   = 1 << 14
	counterProbe     = 64
	counterTableSize = counterHeader + counterEntries*counterEntrySize
	counterVersion   = 1
)

type counterTable struct {
	path string
	f    *os.File // kept open, O_CLOEXEC: its flock guards the entries
	fd   int
	data []byte // shared mapping of the file

	// sem is held with the flock: a flock belongs to the open file, which
	// every goroutine of the process shares, so it keeps other processes
	// out, and sem this one's other goroutines.
	sem    chan struct{}
	closed bool // guarded by sem

	cleanup runtime.Cleanup
}

// openCounterTable opens (making it if need be) the counter table of the
// connector directory dir.
func openCounterTable(dir string) (*counterTable, error) {
	path := filepath.Join(dir, "budget.table")
	f, err := openOwnFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := growFile(f, counterTableSize); err != nil {
		f.Close()
		return nil, err
	}
	fd := int(f.Fd())
	data, err := syscall.Mmap(fd, 0, counterTableSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &counterTable{path: path, f: f, fd: fd, data: data, sem: make(chan struct{}, 1)}
	t.cleanup = runtime.AddCleanup(t, unmap, data)
	return t, nil
}

// close unmaps the table and closes its file; spends after it find no
// room.
func (t *counterTable) close() error {
	t.sem <- struct{}{}
	defer func() { <-t.sem }()
	if t.closed {
		return nil
	}
	t.closed = true
	t.cleanup.Stop()
	return errors.Join(syscall.Munmap(t.data), t.f.Close())
}

// lock takes the table, waiting at most as long as ctx allows.
func (t *counterTable) lock(ctx context.Context) error {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if t.closed {
		<-t.sem
		return ErrNoCounterRoom
	}
	wait := 20 * time.Microsecond
	for i := 0; ; i++ {
		err := flockFD(t.fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != syscall.EWOULDBLOCK {
			<-t.sem
			return fmt.Errorf("%w: flock %s: %v", ErrNoCounterRoom, t.path, err)
		}
		if i < 8 {
			runtime.Gosched() // held for microseconds, as a rule
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			<-t.sem
			return ctx.Err()
		}
		wait = min(2*wait, time.Millisecond)
	}
}

func (t *counterTable) unlock() {
	_ = flockFD(t.fd, syscall.LOCK_UN)
	<-t.sem
}

// spend is SpendBudget on the table.
func (t *counterTable) spend(ctx context.Context, n int, cs []Counter) ([]int, bool, error) {
	if err := t.lock(ctx); err != nil {
		return nil, false, err
	}
	defer t.unlock()
	counts := make([]int, len(cs))
	var ok bool
	var err error
	run := func() { ok, err = t.spendLocked(n, cs, counts) }
	if !tryMapped(run) {
		// Truncated under the mapping: grow it back, once.
		if gerr := growFile(t.f, counterTableSize); gerr != nil || !tryMapped(run) {
			return nil, false, fmt.Errorf("%w: %s cannot be read", ErrNoCounterRoom, t.path)
		}
	}
	if err != nil {
		return nil, false, err
	}
	return counts, ok, nil
}

func (t *counterTable) word(off int) *int64 {
	return (*int64)(unsafe.Pointer(&t.data[off]))
}

// entry returns the words of entry i: hash, start, end, count.
func (t *counterTable) entry(i int) (h, start, end, count *int64) {
	off := counterHeader + i*counterEntrySize
	return t.word(off), t.word(off + 8), t.word(off + 16), t.word(off + 24)
}

// counterHash is FNV-1a of name, never 0 (an empty entry's).
func counterHash(name string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return int64(h)
}

// find returns the entry of hash h, and true, or else the entry to take
// for it in a window starting at start (-1 if none), skipping those in
// taken.
func (t *counterTable) find(h, start int64, taken []int) (int, bool) {
	free := -1
	home := int(uint64(h) % counterEntries)
	for p := range counterProbe {
		i := (home + p) % counterEntries
		eh, _, end, _ := t.entry(i)
		v := atomic.LoadInt64(eh)
		if v == h {
			return i, true
		}
		if isTaken(taken, i) {
			continue
		}
		if v == 0 {
			if free < 0 {
				free = i
			}
			break // the end of the chain: h is not further on
		}
		if free < 0 && atomic.LoadInt64(end) <= start {
			free = i // another name's window that ended
		}
	}
	return free, false
}

func isTaken(taken []int, i int) bool {
	for _, j := range taken {
		if j == i {
			return true
		}
	}
	return false
}

// maxCount is the most a count is read as: more (or less than 0) is
// garbage written over the table, which must neither wrap around nor let
// a spend past its limit.
const maxCount = math.MaxInt32

// saneCount is a count read from the table: a negative one (damage) is
// read as 0 and written over, like a count lost; a huge one as maxCount,
// which spends any budget.
func saneCount(v int64) int {
	return int(min(max(v, 0), maxCount))
}

// spendLocked is spend, under the lock.
func (t *counterTable) spendLocked(n int, cs []Counter, counts []int) (bool, error) {
	if v := atomic.LoadInt64(t.word(0)); v == 0 {
		atomic.StoreInt64(t.word(0), counterVersion)
	} else if v != counterVersion {
		return false, fmt.Errorf("%w: %s has version %d", ErrNoCounterRoom, t.path, v)
	}
	var buf [4]int
	var hbuf [4]int64
	slots, hashes := buf[:0], hbuf[:0] // of each counter, for the second pass
	ok := true
	for i, c := range cs {
		h, start := counterHash(c.Name), c.Start.UnixNano()
		e, found := t.find(h, start, slots)
		if e < 0 && n > 0 {
			return false, fmt.Errorf("%w: %s is full", ErrNoCounterRoom, t.path)
		}
		slots, hashes = append(slots, e), append(hashes, h)
		if found {
			_, es, _, ec := t.entry(e)
			if atomic.LoadInt64(es) >= start { // this window, or a later one
				counts[i] = saneCount(atomic.LoadInt64(ec))
			}
		}
		if n > 0 && c.Limit > 0 && counts[i] > c.Limit-n {
			ok = false
		}
	}
	if !ok || n == 0 {
		return ok, nil
	}
	for i, c := range cs {
		eh, es, ee, ec := t.entry(slots[i])
		h, start := hashes[i], c.Start.UnixNano()
		if atomic.LoadInt64(eh) == h && atomic.LoadInt64(es) >= start {
			// Every writer holds the flock: a load and a store are one step.
			counts[i] = saneCount(atomic.LoadInt64(ec)) + n
			atomic.StoreInt64(ec, int64(counts[i]))
			continue
		}
		// A new window, or a new name: its hash last.
		atomic.StoreInt64(es, start)
		atomic.StoreInt64(ee, c.End.UnixNano())
		atomic.StoreInt64(ec, int64(n))
		atomic.StoreInt64(eh, h)
		counts[i] = n
	}
	return true, nil
}

// counterTables: this system has counter tables.
const counterTables = true
