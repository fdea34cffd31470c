package jongler

import "time"

// stateIndex indexes a state's learned quotas and request counts, so that
// a budgeted lease looks its project up in constant time however many
// projects learned quotas or were counted in the state. It is made once
// per state read (the cached state's slices are never modified).
type stateIndex struct {
	learned []learned // the slices indexed, told apart by identity
	usage   []usage
	limits  map[seriesKey][2]int // lowest learned limit, minute and day; 0: none
	counts  map[usageKey]int     // the first count of each window, as usageCount reads
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

// stateIndexOf returns the index of st, made if st is not the state last
// indexed.
func (r *keyring) stateIndexOf(st *state) *stateIndex {
	if x := r.stIndex.Load(); x != nil && sameSlice(x.learned, st.Learned) && sameSlice(x.usage, st.Usage) {
		return x
	}
	x := &stateIndex{learned: st.Learned, usage: st.Usage,
		limits: make(map[seriesKey][2]int, len(st.Learned)), counts: make(map[usageKey]int, len(st.Usage))}
	for _, l := range st.Learned {
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
	r.stIndex.Store(x)
	return x
}

// budgetOf is budgetOf of the keyring's budgets, through the index when
// st learned many quotas.
func (r *keyring) budgetOf(st *state, project, model string) (Budget, bool) {
	if len(st.Learned) <= indexAfter {
		return budgetOf(r.budgets, st, project, model)
	}
	b, ok := budgetFor(r.budgets, model)
	v, found := r.stateIndexOf(st).limits[seriesKey{project, model}]
	if !found || v == [2]int{} {
		return b, ok
	}
	if v[0] > 0 && (b.PerMinute == 0 || v[0] < b.PerMinute) {
		b.PerMinute = v[0]
	}
	if v[1] > 0 && (b.PerDay == 0 || v[1] < b.PerDay) {
		b.PerDay = v[1]
	}
	b.Model = model
	return b, true
}

// usageCount is st.usageCount, through the index when st counts many
// windows.
func (r *keyring) usageCount(st *state, project, model, window string, start time.Time) int {
	if len(st.Usage) <= indexAfter {
		return st.usageCount(project, model, window, start)
	}
	return r.stateIndexOf(st).counts[usageKey{project, model, window, start.UnixNano()}]
}
