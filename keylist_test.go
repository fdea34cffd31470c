package jongler

import (
	"slices"
	"strings"
	"testing"
)

func TestSameNames(t *testing.T) {
	a := []string{"k1", "k2", "k3"}
	c := slices.Clone(a)
	if !sameNames(a, c) {
		t.Error("a list and its copy differ")
	}
	// The same names in other strings: equal all the same.
	d := []string{strings.Clone("k1"), strings.Clone("k2"), strings.Clone("k3")}
	if !sameNames(c, d) {
		t.Error("equal names in other strings differ")
	}
	c[1] = "k9"
	if sameNames(a, c) {
		t.Error("a changed list is the same")
	}
	if sameNames(a, a[:2]) || !sameNames(nil, []string{}) {
		t.Error("lengths")
	}
}
