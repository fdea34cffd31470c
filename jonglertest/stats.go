package jonglertest

import (
	"maps"
	"slices"
	"time"
)

// Counts are the outcomes of a set of requests. Once no request is in flight,
// Requests = Successes + RateLimited + Failed + Canceled.
type Counts struct {
	Requests    int // requests received
	Successes   int // complete 200 answers
	RateLimited int // 429 answers: quota refusals and injected bare 429s
	Failed      int // other error answers, resets and cut answers
	Canceled    int // requests the client gave up on before the answer was complete
}

// KeyStats are the counters of one configured key.
type KeyStats struct {
	Project string // the key's project
	Counts
	Models map[string]Counts // by model, for configured models only

	// InFlight is the number of requests with this key being served now. A
	// request is in flight from its arrival until its counters are updated,
	// just before the client can see the end of its answer.
	InFlight    int
	MaxInFlight int // the most requests with this key that were ever served at once
	// Overlaps counts the requests that arrived while another request with
	// the same key was in flight. A client that leases each key exclusively
	// keeps it at 0.
	Overlaps int
}

// Window identifies a quota-minute window of one (project, model). Minute is
// the index of the window in simulated time: window 0 is the minute that
// contains [Config.Start] (see [Server.WindowStart]).
type Window struct {
	Project string
	Model   string
	Minute  int64
}

// WindowCounts are the counters of one [Window].
type WindowCounts struct {
	// Successes counts requests admitted in the window that got a complete
	// answer. Successes / RPM is the utilisation of the window.
	Successes int
	// RateLimited counts the quota refusals (per-minute or per-day) in the
	// window; injected bare 429s are not included.
	RateLimited int
}

// Stats is a snapshot of a server's counters, returned by [Server.Stats].
// Keys are identified by their Label: no key value ever appears in it.
type Stats struct {
	Counts                           // all requests, whatever their key or model
	Overlaps int                     // sum of the Overlaps of all keys
	Keys     map[string]KeyStats     // by Key.Label
	Models   map[string]Counts       // by model, for configured models only
	Windows  map[Window]WindowCounts // quota-minute windows with any success or refusal
	Faults   map[FaultKind]int       // injected faults that shaped an answer, by kind
	// OverlapLog holds the first MaxOverlapLog overlaps, in order of
	// arrival: when each happened and which clients were involved.
	OverlapLog []Overlap
}

// Overlap is a request that arrived while other requests with the same key
// were in flight.
//
// A request is in flight as KeyStats.InFlight says: for a client that died
// or gave up, until the server notices the connection gone. A test that
// kills clients can tell such overlaps apart by their addresses: Others
// names the connections whose requests were in flight. An address names a
// connection, not a client: over HTTP/2, or behind a proxy, one address
// carries many requests.
type Overlap struct {
	Key     string    // the key's Label
	Arrived time.Time // when the server counted the request (wall clock)
	Client  string    // the request's remote address (http.Request.RemoteAddr)
	Others  []string  // the remote addresses of the requests in flight with the key then, sorted
}

// MaxOverlapLog is the most overlaps [Stats.OverlapLog] holds.
const MaxOverlapLog = 1000

// statsState is the live form of Stats, guarded by Server.mu.
type statsState struct {
	total      Counts
	overlaps   int
	keys       map[string]*KeyStats
	models     map[string]*Counts
	windows    map[Window]*WindowCounts
	faults     map[FaultKind]int
	overlapLog []Overlap
}

func newStatsState() statsState {
	return statsState{
		keys:    map[string]*KeyStats{},
		models:  map[string]*Counts{},
		windows: map[Window]*WindowCounts{},
		faults:  map[FaultKind]int{},
	}
}

func (st *statsState) snapshot() Stats {
	s := Stats{
		Counts:     st.total,
		Overlaps:   st.overlaps,
		Keys:       make(map[string]KeyStats, len(st.keys)),
		Models:     make(map[string]Counts, len(st.models)),
		Windows:    make(map[Window]WindowCounts, len(st.windows)),
		Faults:     maps.Clone(st.faults),
		OverlapLog: slices.Clone(st.overlapLog),
	}
	for i := range s.OverlapLog {
		s.OverlapLog[i].Others = slices.Clone(s.OverlapLog[i].Others)
	}
	for label, k := range st.keys {
		c := *k
		c.Models = maps.Clone(k.Models)
		s.Keys[label] = c
	}
	for m, c := range st.models {
		s.Models[m] = *c
	}
	for w, c := range st.windows {
		s.Windows[w] = *c
	}
	return s
}

// outcome is how a request ended.
type outcome int

const (
	outcomeSuccess outcome = iota + 1
	outcomeRateLimited
	outcomeFailed
	outcomeCanceled
)

// add adds delta to the counter of outcome o.
func (c *Counts) add(o outcome, delta int) {
	switch o {
	case outcomeSuccess:
		c.Successes += delta
	case outcomeRateLimited:
		c.RateLimited += delta
	case outcomeFailed:
		c.Failed += delta
	case outcomeCanceled:
		c.Canceled += delta
	}
}
