package jongler

import (
	"slices"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// KeyState is the state of a key, as the original API Jongler named them.
type KeyState string

// The four key states.
const (
	// StateVacant: free to lease.
	StateVacant KeyState = "VACANT"
	// StateLocked: leased by a request in flight, in this process or another.
	StateLocked KeyState = "LOCKED"
	// StateLockdown: cooling down until an expiry, after which it is vacant
	// again by itself.
	StateLockdown KeyState = "LOCKDOWN"
	// StateError: refused by the upstream for good; only a cleanup clears it.
	StateError KeyState = "ERROR"
)

// KeyStates is a snapshot of a connector's keys, by name. Each list is
// sorted. A key that cools down or is refused for one model only is listed
// under that state too, with the model in its [KeyDetail].
type KeyStates struct {
	Vacant   []string // free to lease now
	Locked   []string // leased by a request in flight
	Lockdown []string // cooling down, for every model or one
	Error    []string // refused for good, for every model or one
	// Keys holds the detail of every configured key.
	Keys map[string]KeyDetail
	// Learned lists the request quotas learned from the upstream's
	// refusals, by project, model and window.
	Learned []LearnedQuota
	// Budgets lists, by project and model, the budgets that apply (those
	// configured, lowered to the quotas learned) and what is used of them
	// in the current minute and day windows, as every process counts.
	Budgets []BudgetUse
}

// BudgetUse is a project's budget for a model and what is used of it in
// the windows holding now. A limit of 0 is no limit.
type BudgetUse struct {
	Project, Model    string
	PerMinute, PerDay int // the limits
	Minute, Day       int // requests counted in the current minute and day
}

// KeyDetail is what is known of one key.
type KeyDetail struct {
	Name  string   // the key's name
	State KeyState // its state
	// Until is when a lockdown ends; zero otherwise.
	Until time.Time
	// Reason says why the key is in lockdown or error.
	Reason string
	// Model is the model a lockdown or error applies to; "" for all.
	Model string
	// InFlight counts the leases held on the key now, by every process.
	InFlight int
	// Project is the Google Cloud project the key belongs to, if configured.
	Project string
	// Egress is the way the key's requests leave ([WithEgress], [WithTor]):
	// a proxy as scheme://host:port (never its user name or password), or
	// "direct"; "" when the key goes through the base transport.
	Egress string
	// EgressDown is set while the key rests because its proxy refused,
	// failed or did not answer.
	EgressDown bool
}

// buildKeyStates derives the snapshot from the persisted state and the
// leases in flight; holds tells whether a record holds for a key's value.
func buildKeyStates(keys []Key, st *state.State, inFlight map[string]int, now time.Time, holds func(*state.Record, *Key) bool) KeyStates {
	ks := KeyStates{Keys: make(map[string]KeyDetail, len(keys))}
	for i := range keys {
		k := &keys[i]
		d := KeyDetail{Name: k.Name, State: StateVacant, InFlight: inFlight[k.Name], Project: k.Project}
		for _, r := range st.Records {
			if r.Key != k.Name || !r.ActiveAt(now, r.Model) || !holds(&r, k) {
				continue
			}
			if s := KeyState(r.State); rank(s) > rank(d.State) || (s == d.State && r.Until.After(d.Until)) {
				d.State, d.Until, d.Reason, d.Model = s, r.Until, r.Reason, r.Model
			}
		}
		if d.State == StateVacant && now.Before(st.Backoff) {
			d.State, d.Until, d.Reason = StateLockdown, st.Backoff, "the upstream throttles the caller: every key waits"
		}
		if d.State == StateVacant && d.InFlight > 0 {
			d.State = StateLocked
		}
		ks.Keys[k.Name] = d
		switch d.State {
		case StateVacant:
			ks.Vacant = append(ks.Vacant, k.Name)
		case StateLocked:
			ks.Locked = append(ks.Locked, k.Name)
		case StateLockdown:
			ks.Lockdown = append(ks.Lockdown, k.Name)
		case StateError:
			ks.Error = append(ks.Error, k.Name)
		}
	}
	for _, l := range [][]string{ks.Vacant, ks.Locked, ks.Lockdown, ks.Error} {
		slices.Sort(l)
	}
	return ks
}

func rank(s KeyState) int {
	switch s {
	case StateError:
		return 3
	case StateLockdown:
		return 2
	case StateLocked:
		return 1
	}
	return 0
}
