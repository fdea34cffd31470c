//go:build unix

package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The use table is a small file that every process maps into memory: one
// 64-byte record per key, a last-use stamp then the key's name. Reading
// every key's stamp and stamping a lease cost no system call, so the least
// recently used key is known across processes for free. Record 0 holds the
// state file's generation, which every write of it bumps, so that readers
// know without a system call whether their copy is current, and, in its
// third word, the generation of the lock files (see slotHandle).
//
// After the records come 16 bytes per record for its key's leases: how
// many are held (counted up after the flock is taken, down before it is
// given back), then until when the key rests, in Unix nanoseconds. A
// process that dies holding a lease leaves its count behind, and so the
// next taker knows that a request of the dead may still be in flight
// upstream (see [DeadHolderRest]). Files of older versions are grown to
// the new size; their readers map the records only.
//
// No Store ever shrinks the file, but someone else may truncate it
// under the mappings, and touching a mapped page past the end of its file
// raises SIGBUS, which would kill every process using the directory. So
// every access to the mapping runs with faults turned into panics (see
// access), and a fault makes the table grow the file back to its size.
const (
	useRecords    = 1024
	useRecordSize = 64
	useNameMax    = useRecordSize - 9
	useLeaseSize  = 16
	useTableSize  = useRecords * (useRecordSize + useLeaseSize)
)

type useTable struct {
	path   string
	data   []byte // shared mapping of the file
	logger *slog.Logger

	broken atomic.Bool // the mapping faults even after repair: not used
	stale  atomic.Bool // the file was repaired: names must be claimed again
	// repairs counts repairs, after which records looked up before are
	// looked up (claimed) again.
	repairs atomic.Int64

	mu    sync.Mutex
	index map[string]int // key name → record

	cleanup   runtime.Cleanup
	closeOnce sync.Once
}

func openUseTable(dir string, logger *slog.Logger) (*useTable, error) {
	path := filepath.Join(dir, "use.table")
	f, err := openOwnFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := growFile(f, useTableSize); err != nil {
		return nil, err
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, useTableSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	t := &useTable{path: path, data: data, logger: logger, index: map[string]int{}}
	// Unmap when nothing can reach the table any more (its store and every
	// lease on it gone), so that stores made and dropped do not pile up
	// mappings.
	t.cleanup = runtime.AddCleanup(t, unmap, data)
	return t, nil
}

// close unmaps the table now; it must not be used after.
func (t *useTable) close() error {
	var err error
	t.closeOnce.Do(func() {
		t.cleanup.Stop()
		err = syscall.Munmap(t.data)
	})
	return err
}

// growFile makes f at least size bytes long, as a mapped table needs.
func growFile(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < size {
		return f.Truncate(size)
	}
	return nil
}

// access runs f, which reads or writes the mapping, and reports whether it
// could. A fault (the file was truncated under the mapping) is recovered:
// the file is grown back and f runs once more; if it faults again the
// table is given up, and keys are no longer chosen least recently used
// first.
func (t *useTable) access(f func()) bool {
	if t.broken.Load() {
		return false
	}
	if t.try(f) {
		return true
	}
	if err := t.repair(); err == nil && t.try(f) {
		return true
	}
	if !t.broken.Swap(true) {
		t.logger.Warn("jongler: use table unusable; keys are not chosen least recently used first", "file", t.path)
	}
	return false
}

// try runs f with faults turned into panics, and reports whether f ran
// without one.
func (t *useTable) try(f func()) bool { return tryMapped(f) }

// tryMapped runs f, which touches a shared mapping of a file someone may
// have truncated, with faults turned into panics, and reports whether f
// ran without one; any other panic goes on.
func tryMapped(f func()) (ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			ok = false
		}
	}()
	f()
	return true
}

// repair grows the file back under the mapping, after someone truncated
// it. What the lost part held is gone: last-use stamps start again, names
// are claimed again, and the generation jumps to a value no reader has
// cached, so that every process reads the state file again.
func (t *useTable) repair() error {
	f, err := openOwnFile(t.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := growFile(f, useTableSize); err != nil {
		return err
	}
	t.stale.Store(true)
	t.repairs.Add(1)
	t.logger.Warn("jongler: use table was truncated under this process; grown back, last-use times lost", "file", t.path)
	if !t.try(func() { atomic.StoreInt64(t.stamp(0), time.Now().UnixNano()) }) {
		return fmt.Errorf("use table %s still faults", t.path)
	}
	return nil
}

// recordName is what a record holds to name key.
func recordName(key string) string {
	if len(key) <= useNameMax {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "~" + hex.EncodeToString(sum[:16])
}

// records returns the record of each key, claiming free ones for keys the
// table does not hold yet, under a lock that keeps claims apart; waiting for
// that lock (held by another process, maybe stopped) ends with ctx.
func (t *useTable) records(ctx context.Context, keys []string) ([]int, error) {
	if out, missing := t.known(keys); len(missing) == 0 {
		return out, nil
	}
	// The lock is waited for without t.mu held, so that every request of
	// this process waits only as long as its own context allows.
	guard := newStateLock(t.path + ".lock")
	ok, err := guard.TryLockContext(ctx, time.Millisecond)
	if ctx.Err() != nil {
		if ok {
			guard.Unlock()
		}
		return nil, fmt.Errorf("jongler: waiting for %s: %w", guard.Path(), ctx.Err())
	}
	if err != nil {
		return nil, refusedLink(guard.Path(), err)
	}
	if err := checkLock(guard); err != nil {
		return nil, err
	}
	defer guard.Unlock()
	out, missing := t.known(keys)
	if len(missing) == 0 {
		return out, nil // claimed meanwhile by another goroutine
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.access(func() { err = t.claim(keys, missing, out) }) {
		return nil, fmt.Errorf("use table %s cannot be read", t.path)
	}
	return out, err
}

// known returns the records of keys this process knows, and the indexes
// in keys of those it does not.
func (t *useTable) known(keys []string) (out, missing []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stale.Swap(false) {
		clear(t.index)
	}
	out = make([]int, len(keys))
	for i, k := range keys {
		r, ok := t.index[k]
		if !ok {
			missing = append(missing, i)
		}
		out[i] = r
	}
	return out, missing
}

// claim finds or claims the records of keys[i] for i in missing, into
// out; t.mu and the table's lock file are held.
func (t *useTable) claim(keys []string, missing []int, out []int) error {
	byName := map[string]int{}
	free := []int{}
	for r := 1; r < useRecords; r++ {
		rec := t.data[r*useRecordSize : (r+1)*useRecordSize]
		n := int(rec[8])
		if n == 0 || n > useNameMax {
			free = append(free, r)
			continue
		}
		byName[string(rec[9:9+n])] = r
	}
	for _, i := range missing {
		name := recordName(keys[i])
		r, ok := byName[name]
		if !ok {
			if len(free) == 0 {
				return fmt.Errorf("use table %s is full", t.path)
			}
			r, free = free[0], free[1:]
			rec := t.data[r*useRecordSize : (r+1)*useRecordSize]
			atomic.StoreInt64(t.stamp(r), 0)
			copy(rec[9:], name)
			rec[8] = byte(len(name))
			byName[name] = r
		}
		t.index[keys[i]] = r
		out[i] = r
	}
	return nil
}

func (t *useTable) stamp(r int) *int64 {
	return (*int64)(unsafe.Pointer(&t.data[r*useRecordSize]))
}

// leaseWord returns word i (0: holders, 1: rests until) of record r's lease
// counters.
func (t *useTable) leaseWord(r, i int) *int64 {
	return (*int64)(unsafe.Pointer(&t.data[useRecords*useRecordSize+r*useLeaseSize+i*8]))
}

// maxDeadHolders bounds the count of leases held by the dead that is
// believed; more, or fewer than none, is damage to the file.
const maxDeadHolders = 1 << 16

// hold counts a lease just taken on one of slots slots of record r's key,
// and returns how many of the leases counted before it cannot be alive,
// their holders having died with them; those are forgotten. A count that
// makes no sense is reset to this lease alone, and reported as nonsense.
func (t *useTable) hold(r, slots int) (dead int64, nonsense bool) {
	t.access(func() {
		p := t.leaseWord(r, 0)
		before := atomic.AddInt64(p, 1) - 1
		switch {
		case before < 0 || before > maxDeadHolders+int64(slots):
			atomic.AddInt64(p, -before)
			nonsense = true
		case before > int64(slots-1):
			dead = before - int64(slots-1)
			atomic.AddInt64(p, -dead)
		}
	})
	return dead, nonsense
}

// unhold counts a lease of record r's key given back.
func (t *useTable) unhold(r int) {
	t.access(func() { atomic.AddInt64(t.leaseWord(r, 0), -1) })
}

// restsUntil returns until when record r's key rests, in Unix
// nanoseconds; 0 if it does not.
func (t *useTable) restsUntil(r int) int64 {
	var v int64
	t.access(func() { v = atomic.LoadInt64(t.leaseWord(r, 1)) })
	return v
}

// rest makes record r's key rest until until (Unix nanoseconds).
func (t *useTable) rest(r int, until int64) {
	t.access(func() { atomic.StoreInt64(t.leaseWord(r, 1), until) })
}

// load returns record r's last-use stamp; 0 if the table cannot be read.
func (t *useTable) load(r int) int64 {
	var v int64
	t.access(func() { v = atomic.LoadInt64(t.stamp(r)) })
	return v
}

// epoch counts the table's repairs.
func (t *useTable) epoch() int64 { return t.repairs.Load() }

// leastUsed returns the index in recs of the record with the oldest
// last-use stamp among at most lruWindow of them, reading them in one
// access; 0 if the table cannot be read. With more keys than the window,
// the window starts at a cursor shared by every process (the fourth word
// of record 0), which each call moves on by one: a lease looks at a fixed
// number of keys however many there are, and the keys are still used in
// turn, the least recently used of each window first.
func (t *useTable) leastUsed(recs []int) int {
	best := 0
	t.access(func() {
		n, start, span := len(recs), 0, len(recs)
		if n > lruWindow {
			start = int(uint64(atomic.AddInt64(t.cursor(), 1)) % uint64(n))
			span = lruWindow
		}
		least := int64(0)
		for j := range span {
			i := start + j
			if i >= n {
				i -= n
			}
			if used := atomic.LoadInt64(t.stamp(recs[i])); j == 0 || used < least {
				best, least = i, used
			}
		}
	})
	return best
}

// lruWindow is how many keys leastUsed looks at, at most.
const lruWindow = 16

// cursor is the word of record 0 where leastUsed's windows start.
func (t *useTable) cursor() *int64 { return (*int64)(unsafe.Pointer(&t.data[24])) }

// loadAll sets used[i] to record recs[i]'s last-use stamp, reading them
// all in one access (each access costs a deferred recover); zeros if the
// table cannot be read.
func (t *useTable) loadAll(recs []int, used []int64) {
	if !t.access(func() {
		for i, r := range recs {
			used[i] = atomic.LoadInt64(t.stamp(r))
		}
	}) {
		clear(used)
	}
}

func (t *useTable) store(r int, v int64) {
	t.access(func() { atomic.StoreInt64(t.stamp(r), v) })
}

// generation returns the state file's generation; -1 (unknown: readers
// look at the file) if the table cannot be read.
func (t *useTable) generation() int64 {
	v := int64(-1)
	t.access(func() { v = atomic.LoadInt64(t.stamp(0)) })
	return v
}

// slotGeneration returns the connector's slot-file generation, which a
// store bumps whenever it makes a lock file anew (see slotHandle), and
// whether it could be read.
func (t *useTable) slotGeneration() (int64, bool) {
	v := int64(-1)
	ok := t.access(func() { v = atomic.LoadInt64(t.slotGen()) })
	return v, ok
}

// bumpSlotGeneration marks a lock file as made anew.
func (t *useTable) bumpSlotGeneration() {
	t.access(func() { atomic.AddInt64(t.slotGen(), 1) })
}

// slotGen is the slot-file generation's word: the third of record 0, which
// holds no key.
func (t *useTable) slotGen() *int64 { return (*int64)(unsafe.Pointer(&t.data[16])) }

// bump marks the state file as rewritten.
func (t *useTable) bump() {
	t.access(func() { atomic.AddInt64(t.stamp(0), 1) })
}

func unmap(data []byte) { _ = syscall.Munmap(data) }
