package reqinfo

import (
	"context"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestInfo(t *testing.T) {
	if FromContext(context.Background()) != nil {
		t.Fatal("Info from a bare context")
	}
	var none *Info
	none.Attempt("k") // a nil Info records nothing, and does not panic
	none.SetModel("m")
	none.NoKey()
	if none.Snapshot() != (Snapshot{}) {
		t.Fatal("nil Info has a snapshot")
	}

	i := &Info{}
	ctx := NewContext(context.Background(), i)
	got := FromContext(ctx)
	got.SetModel("gemini-2.5-flash")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { got.Attempt("key1") })
	}
	wg.Wait()
	got.Attempt("key2")
	got.NoKey()
	want := Snapshot{Model: "gemini-2.5-flash", Key: "key2", Attempts: 9, NoKey: true}
	if s := i.Snapshot(); s != want {
		t.Fatalf("snapshot %+v, want %+v", s, want)
	}
}
