package jongler

import (
	"context"
	"errors"
	"testing"
)

// TestNoCancelIsWithoutCancel checks that the context a lease is released
// with behaves as context.WithoutCancel's: never done, no deadline, the
// values of the request's context, and no cause of its cancellation.
func TestNoCancelIsWithoutCancel(t *testing.T) {
	type keyT struct{}
	cause := errors.New("request gone")
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), keyT{}, "v"))
	cancel(cause)
	c := &noCancel{Context: parent}
	if c.Done() != nil || c.Err() != nil {
		t.Fatalf("Done %v, Err %v; want nil, nil", c.Done(), c.Err())
	}
	if _, ok := c.Deadline(); ok {
		t.Fatal("has a deadline")
	}
	if got := c.Value(keyT{}); got != "v" {
		t.Fatalf("Value = %v, want v", got)
	}
	if got := context.Cause(c); got != nil {
		t.Fatalf("context.Cause = %v, want nil (as WithoutCancel's)", got)
	}
	// A context made from it is not cancelled by the request's end.
	child, stop := context.WithCancel(c)
	defer stop()
	if child.Err() != nil {
		t.Fatalf("child of a released lease's context: %v", child.Err())
	}
	fired := false
	unhook := context.AfterFunc(c, func() { fired = true })
	defer unhook()
	if fired {
		t.Fatal("AfterFunc fired")
	}
}
