// Package state is what a Store keeps for one connector: the records that
// hold keys back (cooldowns, refusals), the caller's backoff, the request
// counts of budgets, the quotas learned from refusals and the owners of
// Gemini resources, and its encoding, versioned JSON that every process
// sharing the store reads.
//
// The Store keeps the encoded bytes; the transport decodes them, changes
// the State and encodes it again. Nothing here holds a key's value: keys
// are named, and an ERROR is tied to a value by a keyed hash only.
package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// State is what a Store saves for one connector, encoded by Encode.
type State struct {
	// Records lists the cooldowns and refusals in force or expired but not
	// yet pruned.
	Records []Record `json:"records,omitempty"`
	// Backoff, when in the future, holds back every key of the connector:
	// the upstream throttles the caller, not a key.
	Backoff time.Time `json:"backoff,omitzero"`
	// Usage counts requests per project, model and window, for budgets.
	Usage []Usage `json:"usage,omitempty"`
	// Throttles lists recent bare rate-limit answers by project, to tell a
	// throttled caller from a busy project.
	Throttles []Throttle `json:"throttles,omitempty"`
	// Learned lists the request quotas learned from refusals.
	Learned []Learned `json:"learned,omitempty"`
	// OldSecret is the secret of the fingerprints written when the store
	// kept it beside them: read from such a state, used once by Upgrade
	// and never written again (Encode leaves it out).
	OldSecret []byte `json:"secret,omitempty"`
	// Idents says which value (by fingerprint) each key name stands for in
	// this store, per fingerprint secret (see Claim).
	Idents []Ident `json:"idents,omitempty"`
	// Owners says which project created each Gemini file and cached
	// content.
	Owners []Owner `json:"owners,omitempty"`
	// Models lists the model names whose requests are counted apart under
	// a "*" budget; the others share one count (see package quota).
	Models []CountedModel `json:"models,omitempty"`
}

// KeyState is the state a record holds its key in, named as the
// transport's key states are.
type KeyState string

// The states a record holds a key in.
const (
	// Lockdown: cooling down until the record's Until.
	Lockdown KeyState = "LOCKDOWN"
	// Error: refused for good, until a cleanup.
	Error KeyState = "ERROR"
)

// Record is a key's LOCKDOWN or ERROR state, for every model or just one.
type Record struct {
	Key    string    `json:"key"`             // the key's name
	State  KeyState  `json:"state"`           // Lockdown or Error
	Model  string    `json:"model,omitempty"` // the model it applies to; "" for all
	Until  time.Time `json:"until,omitzero"`  // when a lockdown ends
	Reason string    `json:"reason,omitempty"`
	// Fingerprint is the keyed hash of the value an ERROR was earned
	// with (see State.Fingerprint): another value under the same name
	// starts afresh.
	Fingerprint string `json:"fingerprint,omitempty"`
	// SecretID names the secret Fingerprint was made under (see
	// Fingerprinter.ID).
	SecretID string `json:"secret_id,omitempty"`
}

// Ident is the value a key name stands for in a store: its fingerprint
// under the secret of ID SecretID.
type Ident struct {
	Key         string `json:"key"`
	SecretID    string `json:"secret_id"`
	Fingerprint string `json:"fingerprint"`
}

// Usage counts the requests sent with a project's keys for a model in one
// window.
type Usage struct {
	Project string    `json:"project"`
	Model   string    `json:"model,omitempty"`
	Window  string    `json:"window"` // "minute" or "day"
	Start   time.Time `json:"start"`
	Count   int       `json:"count"`
}

// CountedModel is a model name given counts of its own under a "*"
// budget, and the start of the day it was first counted in.
type CountedModel struct {
	Model string    `json:"model"`
	Day   time.Time `json:"day"`
}

// Throttle is one bare rate-limit answer: no quota named, no hint given.
type Throttle struct {
	Project string    `json:"project"`
	At      time.Time `json:"at"`
}

// Learned is a request quota learned from a refusal, as the transport's
// LearnedQuota shows it.
type Learned struct {
	Project string    `json:"project"`
	Model   string    `json:"model"`
	Window  string    `json:"window"`
	Limit   int       `json:"limit"`
	At      time.Time `json:"at"`
	From    string    `json:"from,omitempty"`
}

// Version is written in every encoded state, for readers to come.
const Version = 1

type file struct {
	Version int `json:"version"`
	State
}

// Encode encodes st as a Store keeps it, without OldSecret: no secret is
// ever written to a store.
func Encode(st *State) ([]byte, error) {
	f := file{Version: Version, State: *st}
	f.OldSecret = nil
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("jongler: encode state: %w", err)
	}
	return append(out, '\n'), nil
}

// Decode decodes what Encode wrote, refusing unknown versions and records
// that make no sense, so that damaged state is never half believed. Empty
// data is the empty state.
func Decode(data []byte) (State, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return State{}, nil
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return State{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return State{}, errors.New("invalid JSON: data after the state object")
	}
	if f.Version != Version {
		return State{}, fmt.Errorf("unknown version %d", f.Version)
	}
	for i, r := range f.Records {
		if r.Key == "" {
			return State{}, fmt.Errorf("record %d: no key", i)
		}
		if r.State != Lockdown && r.State != Error {
			return State{}, fmt.Errorf("record %d: state %q", i, r.State)
		}
	}
	return f.State, nil
}

// Updater is the part of a Store that Update needs: it calls fn with the
// bytes kept for connector and keeps what fn returns, atomically.
type Updater interface {
	Update(ctx context.Context, connector string, fn func(current []byte) ([]byte, error)) error
}

// Update applies fn to the decoded state of connector in s. Damaged state
// is replaced by fn's work on an empty one; an error of fn leaves the
// state as it was.
func Update(ctx context.Context, s Updater, connector string, fn func(*State) error) error {
	return s.Update(ctx, connector, func(cur []byte) ([]byte, error) {
		st, err := Decode(cur)
		if err != nil {
			st = State{}
		}
		if err := fn(&st); err != nil {
			return nil, err
		}
		return Encode(&st)
	})
}

// Clone returns st with every slice copied, so that changing the copy
// leaves st as it is (TestCloneCopiesEverySlice keeps it complete).
func (s State) Clone() State {
	s.Records = slices.Clone(s.Records)
	s.Usage = slices.Clone(s.Usage)
	s.Throttles = slices.Clone(s.Throttles)
	s.Learned = slices.Clone(s.Learned)
	s.OldSecret = slices.Clone(s.OldSecret)
	s.Idents = slices.Clone(s.Idents)
	s.Owners = slices.Clone(s.Owners)
	s.Models = slices.Clone(s.Models)
	return s
}

// Forget drops lockdowns, refusals, throttling, learned quotas (the next
// refusal teaches them again) and which value each key name stands for;
// request counts stay, as they count requests the upstream has seen.
func (s *State) Forget() {
	s.Records = nil
	s.Idents = nil
	s.Backoff = time.Time{}
	s.Throttles = nil
	s.Learned = nil
}

// ActiveAt reports whether r holds its key back at now for model
// ("" asks about the key as a whole).
func (r Record) ActiveAt(now time.Time, model string) bool {
	if r.Model != "" && r.Model != model {
		return false
	}
	switch r.State {
	case Error:
		return true
	case Lockdown:
		return now.Before(r.Until)
	}
	return false
}

// PruneRecords drops the lockdowns that ended before now.
func (s *State) PruneRecords(now time.Time) {
	kept := s.Records[:0]
	for _, r := range s.Records {
		if r.State == Lockdown && !now.Before(r.Until) {
			continue
		}
		kept = append(kept, r)
	}
	s.Records = kept
}

// SetRecord replaces the record of (r.Key, r.Model) for the same value
// (fingerprint and secret) with r; a refusal outranks a cooldown.
func (s *State) SetRecord(r Record) {
	for i, old := range s.Records {
		if old.Key == r.Key && old.Model == r.Model && old.Fingerprint == r.Fingerprint && old.SecretID == r.SecretID {
			if old.State == Error && r.State == Lockdown {
				return
			}
			s.Records[i] = r
			return
		}
	}
	s.Records = append(s.Records, r)
}

// Fold adds mem's records and backoff to s: what a process kept in memory
// when the store could not be written.
func (s *State) Fold(mem State) {
	for _, rec := range mem.Records {
		s.SetRecord(rec)
	}
	if mem.Backoff.After(s.Backoff) {
		s.Backoff = mem.Backoff
	}
}

// throttleWindow is how far back bare rate-limit answers are remembered;
// throttleProjects is how many distinct projects must get one within it for
// the caller, rather than a project, to be taken as throttled.
const (
	throttleWindow   = 30 * time.Second
	throttleProjects = 2
)

// NoteThrottle records a bare rate-limit answer for project at now and
// reports whether throttleProjects distinct projects got one within
// throttleWindow.
func (s *State) NoteThrottle(project string, now time.Time) bool {
	kept := s.Throttles[:0]
	for _, t := range s.Throttles {
		if now.Sub(t.At) < throttleWindow && t.Project != project {
			kept = append(kept, t)
		}
	}
	s.Throttles = append(kept, Throttle{Project: project, At: now})
	return len(s.Throttles) >= throttleProjects
}

// Count returns the count of (project, model, window, start), 0 if none:
// the first, which is the one spends add to.
func (s *State) Count(project, model, window string, start time.Time) int {
	for _, u := range s.Usage {
		if u.Project == project && u.Model == model && u.Window == window && u.Start.Equal(start) {
			return u.Count
		}
	}
	return 0
}

// DropUsageBefore drops the counts of minute windows that start before
// minute and of day windows that start before day.
func (s *State) DropUsageBefore(minute, day time.Time) {
	kept := s.Usage[:0]
	for _, u := range s.Usage {
		if u.Window == "minute" && u.Start.Before(minute) || u.Window == "day" && u.Start.Before(day) {
			continue
		}
		kept = append(kept, u)
	}
	s.Usage = kept
}
