package jongler_test

import (
	"context"
	"fmt"
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
				if err := l.Release(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
