package jongler_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/api-jongler/jongler"
)

// BenchmarkStoreLease measures the leasing path alone: one Store.Acquire
// and Release of 8 keys, one slot each, with nothing else held, for the
// in-memory store and the file store (which is an open, a flock, an
// unlock and a close of a slot file per lease). Run:
//
//	go test -run '^$' -bench BenchmarkStoreLease -benchmem -count 6 .
func BenchmarkStoreLease(b *testing.B) {
	ctx := context.Background()
	keys := make([]string, 8)
	for i := range keys {
		keys[i] = fmt.Sprintf("key%d", i+1)
	}
	for _, s := range []struct {
		name  string
		store func(b *testing.B) jongler.Store
	}{
		{"memory", func(*testing.B) jongler.Store { return jongler.NewMemoryStore() }},
		{"file", func(b *testing.B) jongler.Store {
			fs, err := jongler.NewFileStore(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			return fs
		}},
	} {
		b.Run(s.name, func(b *testing.B) {
			st := s.store(b)
			b.ReportAllocs()
			for b.Loop() {
				l, err := st.Acquire(ctx, gem, keys, 1)
				if err != nil || l == nil {
					b.Fatalf("Acquire: %v, %v", l, err)
				}
				if err := l.Release(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStoreUpdate measures one Store.Update that counts a request
// in a small state, as a lease does when a budget is set, alone
// ("serial") and with 32 goroutines at once ("parallel32"). Run:
//
//	go test -run '^$' -bench BenchmarkStoreUpdate -benchmem -count 6 .
func BenchmarkStoreUpdate(b *testing.B) {
	ctx := context.Background()
	bump := func(st *jongler.State) error {
		if len(st.Usage) == 0 {
			for i := range 12 {
				st.Usage = append(st.Usage, jongler.Usage{Project: fmt.Sprintf("project-%d", i%6), Model: "gemini-2.5-flash", Window: "minute"})
			}
		}
		st.Usage[0].Count++
		return nil
	}
	for _, s := range []struct {
		name  string
		store func(b *testing.B) jongler.Store
	}{
		{"memory", func(*testing.B) jongler.Store { return jongler.NewMemoryStore() }},
		{"file", func(b *testing.B) jongler.Store {
			fs, err := jongler.NewFileStore(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			return fs
		}},
	} {
		for _, par := range []int{1, 32} {
			name := s.name + "/serial"
			if par > 1 {
				name = fmt.Sprintf("%s/parallel%d", s.name, par)
			}
			b.Run(name, func(b *testing.B) {
				st := s.store(b)
				b.ReportAllocs()
				if par == 1 {
					for b.Loop() {
						if err := jongler.UpdateState(ctx, st, gem, bump); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(max(1, par/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := jongler.UpdateState(ctx, st, gem, bump); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}
