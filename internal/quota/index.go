package quota

import (
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// index indexes a state's learned quotas and request counts, so that a
// budgeted lease looks its project up in constant time however many
// projects learned quotas or were counted in the state. It is made once
// per state read (the cached state's slices are never modified).
type index struct {
	learned []state.Learned // the slices indexed, told apart by identity
	usage   []state.Usage
	listed  []state.CountedModel
	limits  map[seriesKey][2]int // lowest learned limit, minute and day; 0: none
	counts  map[usageKey]int     // the first count of each window, as State.Count reads
	models  map[string]bool      // the models learned of or listed: counted apart
}

type usageKey struct {
	project, model, window string
	start                  int64
}

// indexAfter is the number of entries below which a scan is cheaper.
const indexAfter = 8

// sameSlice reports whether a and b are the same slice: of one length,
// and starting at one element (or both empty).
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// indexOf returns the index of st, made if st is not the state last
// indexed.
func (b *Book[C]) indexOf(st *state.State) *index {
	if x := b.index.Load(); x != nil && sameSlice(x.learned, st.Learned) && sameSlice(x.usage, st.Usage) && sameSlice(x.listed, st.Models) {
		return x
	}
	x := &index{learned: st.Learned, usage: st.Usage, listed: st.Models,
		limits: make(map[seriesKey][2]int, len(st.Learned)), counts: make(map[usageKey]int, len(st.Usage)),
		models: make(map[string]bool, len(st.Models)+len(st.Learned))}
	for _, m := range st.Models {
		x.models[m.Model] = true
	}
	for _, l := range st.Learned {
		x.models[l.Model] = true
		if l.Limit <= 0 {
			continue
		}
		i := 0
		switch l.Window {
		case "minute":
		case "day":
			i = 1
		default:
			continue
		}
		k := seriesKey{l.Project, l.Model}
		v := x.limits[k]
		if v[i] == 0 || l.Limit < v[i] {
			v[i] = l.Limit
		}
		x.limits[k] = v
	}
	for _, u := range st.Usage {
		k := usageKey{u.Project, u.Model, u.Window, u.Start.UnixNano()}
		if _, ok := x.counts[k]; !ok {
			x.counts[k] = u.Count
		}
	}
	b.index.Store(x)
	return x
}

// count is st.Count, through the index when st counts many windows.
func (b *Book[C]) count(st *state.State, project, model, window string, start time.Time) int {
	if len(st.Usage) <= indexAfter {
		return st.Count(project, model, window, start)
	}
	return b.indexOf(st).counts[usageKey{project, model, window, start.UnixNano()}]
}
