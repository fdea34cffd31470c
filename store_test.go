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
