//go:build unix

package jongler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/gofrs/flock"
)

// The use table is a small file that every process maps into memory: one
// 64-byte record per key, a last-use stamp then the key's name. Reading
// every key's stamp and stamping a lease cost no system call, so the least
// recently used key is known across processes for free. Record 0 holds the
// state file's generation, which every write of it bumps, so that readers
// know without a system call whether their copy is current.
const (
	useRecords    = 1024
	useRecordSize = 64
	useNameMax    = useRecordSize - 9
)

type useTable struct {
	path string
	data []byte // shared mapping of the file

	mu    sync.Mutex
	index map[string]int // key name → record
}

func openUseTable(dir string) (*useTable, error) {
	path := filepath.Join(dir, "use.table")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const size = useRecords * useRecordSize
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if fi.Size() < size {
		if err := f.Truncate(size); err != nil {
			return nil, err
		}
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &useTable{path: path, data: data, index: map[string]int{}}, nil
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
// table does not hold yet, under a lock that keeps claims apart.
func (t *useTable) records(keys []string) ([]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]int, len(keys))
	var missing []int
	for i, k := range keys {
		r, ok := t.index[k]
		if !ok {
			missing = append(missing, i)
		}
		out[i] = r
	}
	if len(missing) == 0 {
		return out, nil
	}
	guard := flock.New(t.path + ".lock")
	if err := guard.Lock(); err != nil {
		return nil, err
	}
	defer guard.Unlock()
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
				return nil, fmt.Errorf("use table %s is full", t.path)
			}
			r, free = free[0], free[1:]
			rec := t.data[r*useRecordSize : (r+1)*useRecordSize]
			t.store(r, 0)
			copy(rec[9:], name)
			rec[8] = byte(len(name))
			byName[name] = r
		}
		t.index[keys[i]] = r
		out[i] = r
	}
	return out, nil
}

func (t *useTable) stamp(r int) *int64 {
	return (*int64)(unsafe.Pointer(&t.data[r*useRecordSize]))
}

func (t *useTable) load(r int) int64     { return atomic.LoadInt64(t.stamp(r)) }
func (t *useTable) store(r int, v int64) { atomic.StoreInt64(t.stamp(r), v) }

// generation returns the state file's generation.
func (t *useTable) generation() int64 { return t.load(0) }

// bump marks the state file as rewritten.
func (t *useTable) bump() { atomic.AddInt64(t.stamp(0), 1) }
