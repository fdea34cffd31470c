package main

import (
	"strings"
	"testing"
)

// TestFreetierSmoke: over two simulated minutes the route serves all the
// combined quotas allow with one upstream 429 (Gemini's, learned), while
// the chain after 429 sends many.
func TestFreetierSmoke(t *testing.T) {
	out := runCmd(t, "freetier", "-requests", "40", "-rate", "20", "-minute", "1s", "-gemini-rpm", "5", "-groq-rpm", "5", "-cerebras-rpm", "3")
	if !strings.Contains(out, "goal: every request the combined quotas allow served: true (") || !strings.Contains(out, "learned quota (1, Gemini's): true (1)") {
		t.Errorf("route figures:\n%s", out)
	}
	var chain []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "chain after 429") {
			chain = strings.Fields(l)
		}
	}
	// mode (3 words), served, allowed, upstream 429s, client 429s, wall
	if len(chain) != 8 || chain[3] != chain[4] || chain[5] == "0" || chain[5] == "1" {
		t.Errorf("chain row %q, want all the quotas allow served and many upstream 429s:\n%s", chain, out)
	}
}
