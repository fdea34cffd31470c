package main

import (
	"slices"
	"strings"
)

// suggest returns the names a mistyped one may have meant, best first: a
// name at a small edit distance (as cobra measures mistyped commands),
// one the typed text begins, or one with a part between dots, dashes or
// underscores equal to it ("huggingface" for router.huggingface.co, and
// for ROUTER_HUGGINGFACE_CO in a variable's name).
func suggest(typed string, names []string) []string {
	t := strings.ToLower(typed)
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	for _, n := range names {
		l := strings.ToLower(n)
		d := editDistance(t, l)
		switch {
		case d <= max(2, len(t)/4):
		case len(t) >= 3 && strings.HasPrefix(l, t):
		case len(t) >= 3 && slices.Contains(strings.FieldsFunc(l, func(r rune) bool { return r == '.' || r == '-' || r == '_' }), t):
		default:
			continue
		}
		cands = append(cands, cand{n, d})
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return a.dist - b.dist })
	out := make([]string, 0, len(cands))
	for _, c := range cands {
		if !slices.Contains(out, c.name) {
			out = append(out, c.name)
		}
	}
	return out
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
