package filestore

import (
	"slices"
	"strings"
	"testing"
)

func TestSameNames(t *testing.T) {
	a := []string{"k1", "k2", "k3"}
	c := slices.Clone(a)
	if !SameNames(a, c) {
		t.Error("a list and its copy differ")
	}
	// The same names in other strings: equal all the same.
	d := []string{strings.Clone("k1"), strings.Clone("k2"), strings.Clone("k3")}
	if !SameNames(c, d) {
		t.Error("equal names in other strings differ")
	}
	c[1] = "k9"
	if SameNames(a, c) {
		t.Error("a changed list is the same")
	}
	if SameNames(a, a[:2]) || !SameNames(nil, []string{}) {
		t.Error("lengths")
	}
}
