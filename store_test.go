package jongler_test

import (
	"testing"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) jongler.Store { return jongler.NewMemoryStore() })
}

func TestFileStoreConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) jongler.Store {
		s, err := jongler.NewFileStore(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMemoryStoreShared(t *testing.T) {
	storetest.TestShared(t, func(t *testing.T) (jongler.Store, jongler.Store) {
		s := jongler.NewMemoryStore()
		return s, s
	})
}

func TestFileStoreShared(t *testing.T) {
	storetest.TestShared(t, func(t *testing.T) (jongler.Store, jongler.Store) {
		dir := t.TempDir()
		var pair [2]jongler.Store
		for i := range pair {
			s, err := jongler.NewFileStore(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			pair[i] = s
		}
		return pair[0], pair[1]
	})
}
