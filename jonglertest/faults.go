package jonglertest

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Fault says how often one kind of fault strikes. Both triggers may be set;
// the fault strikes if either fires.
//
// Faults only strike eligible requests: those with a usable key, a known
// model and a well-formed body. Eligible requests are numbered 1, 2, 3... in
// the order they arrive.
type Fault struct {
	// Rate is the probability, from 0 to 1, that the fault strikes an eligible
	// request. The draws come from a generator seeded with [Config.Seed] that
	// makes the same number of draws for every eligible request, so the
	// decisions for the n-th eligible request depend only on the seed and n.
	Rate float64
	// Every, if positive, makes the fault strike the Every-th, 2·Every-th...
	// eligible request.
	Every int
}

// Faults configures fault injection, for drills of the error handling of
// clients. Each kind of fault is independent; when several strike one
// request, the answer is the first in this order: Reset, Overloaded, Internal,
// RateLimit. Slow adds to any of them; Cut only applies to requests that pass
// the quota check. Injected faults other than Cut do not count against quotas.
type Faults struct {
	Overloaded Fault // 503 UNAVAILABLE "The model is overloaded. Please try again later."
	Internal   Fault // 500 INTERNAL "An internal error has occurred..."
	Reset      Fault // the connection is closed (with a TCP reset) without an answer
	RateLimit  Fault // a bare 429 RESOURCE_EXHAUSTED without details, as Google sends when an IP is throttled
	Slow       Fault // the answer comes SlowBy later than it would
	Cut        Fault // the answer starts but the connection closes halfway (after the first chunk of a stream); the request counts against the quota

	// SlowBy is the extra wall time of a slow answer; 0 means one second.
	SlowBy time.Duration
}

// FaultKind names one kind of fault, for [Server.InjectFaults].
type FaultKind int

// The kinds of fault, as described at [Faults].
const (
	FaultOverloaded FaultKind = iota + 1
	FaultInternal
	FaultReset
	FaultRateLimit
	FaultSlow
	FaultCut
)

const numFaultKinds = int(FaultCut)

// String returns the name of the kind, e.g. "overloaded".
func (k FaultKind) String() string {
	switch k {
	case FaultOverloaded:
		return "overloaded"
	case FaultInternal:
		return "internal"
	case FaultReset:
		return "reset"
	case FaultRateLimit:
		return "rate-limit"
	case FaultSlow:
		return "slow"
	case FaultCut:
		return "cut"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

func (f *Faults) byKind(k FaultKind) Fault {
	switch k {
	case FaultOverloaded:
		return f.Overloaded
	case FaultInternal:
		return f.Internal
	case FaultReset:
		return f.Reset
	case FaultRateLimit:
		return f.RateLimit
	case FaultSlow:
		return f.Slow
	case FaultCut:
		return f.Cut
	}
	return Fault{}
}

// strikes is the set of faults that strike one request, indexed by kind.
type strikes [numFaultKinds + 1]bool

func (s *strikes) has(k FaultKind) bool { return s[k] }

// faultState decides which faults strike each eligible request. It is
// guarded by Server.mu.
type faultState struct {
	cfg     Faults
	rng     *rand.Rand
	n       int                    // eligible requests so far
	pending [numFaultKinds + 1]int // from InjectFaults, by kind
}

func newFaultState(cfg Faults, seed int64) *faultState {
	return &faultState{
		cfg: cfg,
		rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)),
	}
}

// next numbers the next eligible request and decides its faults.
func (f *faultState) next() strikes {
	f.n++
	var s strikes
	for k := FaultOverloaded; k <= FaultCut; k++ {
		fault := f.cfg.byKind(k)
		draw := f.rng.Float64() // always drawn: keeps the sequence aligned
		if draw < fault.Rate || (fault.Every > 0 && f.n%fault.Every == 0) {
			s[k] = true
		}
		if f.pending[k] > 0 {
			f.pending[k]--
			s[k] = true
		}
	}
	return s
}
