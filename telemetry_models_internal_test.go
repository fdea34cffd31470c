package jongler

import (
	"fmt"
	"testing"
)

// TestModelLabelCountBounded: past the models the metrics may name, each
// request naming another one leaves the count of names as it is. It grew
// by one a request, and at 2^31 such requests (a busy proxy serving a
// 65th model for a month) it would wrap below zero and let every new name
// in, without end.
func TestModelLabelCountBounded(t *testing.T) {
	tel := &telemetry{m: &instruments{}}
	for i := range maxModelLabels {
		if got := tel.modelLabel(fmt.Sprintf("model-%d", i)); got != fmt.Sprintf("model-%d", i) {
			t.Fatalf("model %d labelled %q", i, got)
		}
	}
	for i := range 1000 {
		if got := tel.modelLabel(fmt.Sprintf("late-%d", i%3)); got != otherModel {
			t.Fatalf("a model past the bound labelled %q", got)
		}
	}
	if n := tel.nModels.Load(); n != maxModelLabels {
		t.Errorf("the count of model names is %d after 1,000 requests past the bound, want %d", n, maxModelLabels)
	}
	if got := tel.modelLabel("model-3"); got != "model-3" {
		t.Errorf("a named model labelled %q", got)
	}
}
