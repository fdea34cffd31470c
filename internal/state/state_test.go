package state

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// TestCloneCopiesEverySlice: a field added to State must be copied by
// Clone, or an update starting from a cached state would change the cache
// (or drop the field).
func TestCloneCopiesEverySlice(t *testing.T) {
	var st State
	v := reflect.ValueOf(&st).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Slice {
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		}
	}
	cp := st.Clone()
	c := reflect.ValueOf(cp)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Slice {
			continue
		}
		if c.Field(i).Len() != 1 || c.Field(i).Pointer() == f.Pointer() {
			t.Errorf("Clone shares or drops State.%s", v.Type().Field(i).Name)
		}
	}
}

// TestEncodingUnchanged: a state file written before this package existed
// (testdata/state-v1.json, every field set) decodes, and encodes again to
// the same bytes; the empty state is the version alone.
func TestEncodingUnchanged(t *testing.T) {
	want, err := os.ReadFile("testdata/state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	st, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Records) != 2 || len(st.Usage) != 2 || len(st.Throttles) != 1 || len(st.Learned) != 1 ||
		len(st.Idents) != 1 || st.Records[1].SecretID == "" || len(st.Owners) != 1 || st.Backoff.IsZero() {
		t.Fatalf("decoded %+v: a field was lost", st)
	}
	got, err := Encode(&st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded again:\n%s\nwant:\n%s", got, want)
	}
	if got, _ := Encode(&State{}); string(got) != "{\n  \"version\": 1\n}\n" {
		t.Fatalf("empty state encoded as %q", got)
	}
}

// TestDecodeRefusesNonsense: damaged state is refused whole, never half
// believed; empty data is the empty state.
func TestDecodeRefusesNonsense(t *testing.T) {
	for _, data := range []string{
		`{"version":2}`,
		`{"version":1}{"version":1}`,
		`{"version":1,"records":[{"key":"","state":"LOCKDOWN"}]}`,
		`{"version":1,"records":[{"key":"k","state":"VACANT"}]}`,
		`{"version":1,"records":[{"key":"k","state":"LOCKDOWN","until":"not a time"}]}`,
		`not json`,
	} {
		if st, err := Decode([]byte(data)); err == nil {
			t.Errorf("%s: decoded as %+v, want an error", data, st)
		}
	}
	if st, err := Decode([]byte(" \n")); err != nil || !reflect.DeepEqual(st, State{}) {
		t.Fatalf("blank data: %+v %v, want the empty state", st, err)
	}
}

// TestRecords: a refusal outranks a cooldown of the same key and model,
// lockdowns end by themselves, and a record for one model holds the key
// back for that model only.
func TestRecords(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)
	var st State
	st.SetRecord(Record{Key: "k", State: Error, Reason: "invalid"})
	st.SetRecord(Record{Key: "k", State: Lockdown, Until: now.Add(time.Minute)})
	if len(st.Records) != 1 || st.Records[0].State != Error {
		t.Fatalf("records %+v: a cooldown replaced a refusal", st.Records)
	}
	st.SetRecord(Record{Key: "j", State: Lockdown, Model: "m", Until: now.Add(time.Minute)})
	if r := st.Records[1]; !r.ActiveAt(now, "m") || r.ActiveAt(now, "other") || r.ActiveAt(now.Add(time.Minute), "m") {
		t.Fatalf("lockdown %+v: active for m until its end only", r)
	}
	st.PruneRecords(now.Add(time.Minute))
	if len(st.Records) != 1 || st.Records[0].Key != "k" {
		t.Fatalf("pruned to %+v, want the refusal alone", st.Records)
	}
}

// TestNoteThrottle: bare rate-limit answers to two projects within the
// window say the caller is throttled; to one project, or spread out, not.
func TestNoteThrottle(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 0, 30, 0, time.UTC)
	var st State
	if st.NoteThrottle("p", now) || st.NoteThrottle("p", now.Add(time.Second)) {
		t.Fatal("one project throttled taken for the caller")
	}
	if st.NoteThrottle("q", now.Add(time.Minute)) {
		t.Fatal("answers a minute apart taken for the caller throttled")
	}
	if !st.NoteThrottle("p", now.Add(time.Minute+time.Second)) {
		t.Fatal("two projects throttled within the window: the caller is")
	}
}

// TestOldSecretNeverWritten: a state written when the store kept the
// fingerprint secret still decodes; the secret is read, and never written
// again, by any path that encodes.
func TestOldSecretNeverWritten(t *testing.T) {
	old, err := os.ReadFile("testdata/state-v1-secret.json")
	if err != nil {
		t.Fatal(err)
	}
	st, err := Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.OldSecret) != 32 {
		t.Fatalf("old secret %d bytes, want 32", len(st.OldSecret))
	}
	out, err := Encode(&st)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(`"secret"`)) || bytes.Contains(out, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")) {
		t.Fatalf("encoded:\n%s\nholds the old secret", out)
	}
}

// TestUpgradeOldFingerprints: an ERROR fingerprinted under the old stored
// secret is fingerprinted anew under the new one when the key still has
// that value, dropped when it has another (as it was), and kept as it is
// for a key not configured here; the old secret goes.
func TestUpgradeOldFingerprints(t *testing.T) {
	old := []byte("0123456789abcdef0123456789abcdef")
	st := State{OldSecret: old, Records: []Record{
		{Key: "same", State: Error, Fingerprint: hmacHex(old, "v-same")},
		{Key: "fixed", State: Error, Fingerprint: hmacHex(old, "v-broken")},
		{Key: "gone", State: Error, Fingerprint: hmacHex(old, "v-gone")},
		{Key: "cool", State: Lockdown, Until: time.Now()},
	}}
	values := map[string]string{"same": "v-same", "fixed": "v-fixed", "cool": "v-cool"}
	f := NewFingerprinter([]byte("a new secret, held elsewhere"))
	st.Upgrade(func(k string) (string, bool) { v, ok := values[k]; return v, ok }, f)
	if st.OldSecret != nil || len(st.Records) != 3 {
		t.Fatalf("upgraded %+v", st)
	}
	if r := st.Records[0]; r.Key != "same" || r.Fingerprint != f.Of("v-same") || r.SecretID != f.ID() {
		t.Fatalf("same: %+v, want fingerprinted under the new secret", r)
	}
	if r := st.Records[1]; r.Key != "gone" || r.SecretID != "" || !r.For(f.Of("anything"), f.ID()) {
		t.Fatalf("gone: %+v, want kept, holding by name", r)
	}
}

// TestRecordForValue: a record holds for the value it was made with under
// the same secret; under another secret, or without a fingerprint, it
// holds by name. Two values under one name keep a record each.
func TestRecordForValue(t *testing.T) {
	a, b := NewFingerprinter([]byte("secret-a-0123456789")), NewFingerprinter([]byte("secret-b-0123456789"))
	r := Record{Key: "k", State: Error, Fingerprint: a.Of("v1"), SecretID: a.ID()}
	if !r.For(a.Of("v1"), a.ID()) || r.For(a.Of("v2"), a.ID()) {
		t.Fatal("under the same secret: holds for v1 only")
	}
	if !r.For(b.Of("v2"), b.ID()) || !(Record{Key: "k"}).For(a.Of("v2"), a.ID()) {
		t.Fatal("another secret, or no fingerprint: holds by name")
	}
	if a.Of("v1") == b.Of("v1") || a.ID() == b.ID() {
		t.Fatal("fingerprints or IDs agree across secrets")
	}
	var st State
	st.SetRecord(r)
	st.SetRecord(Record{Key: "k", State: Lockdown, Until: time.Now(), Fingerprint: a.Of("v2"), SecretID: a.ID()})
	if len(st.Records) != 2 || st.Records[0].State != Error {
		t.Fatalf("records %+v: one value's record replaced the other's", st.Records)
	}
}

// TestClaim: a name stands for one value per secret in a store; another
// value under it conflicts, unless the first was refused for good.
func TestClaim(t *testing.T) {
	f := NewFingerprinter([]byte("secret-a-0123456789"))
	var st State
	if c, ch := st.Claim("k", f.ID(), f.Of("v1")); c || !ch {
		t.Fatal("first claim")
	}
	if c, ch := st.Claim("k", f.ID(), f.Of("v1")); c || ch {
		t.Fatal("same value again")
	}
	if c, _ := st.Claim("k", "other-secret", "xx"); c {
		t.Fatal("another secret cannot judge: no conflict")
	}
	if c, ch := st.Claim("k", f.ID(), f.Of("v2")); !c || ch {
		t.Fatal("another value under the name: want a conflict")
	}
	st.SetRecord(Record{Key: "k", State: Error, Fingerprint: f.Of("v1"), SecretID: f.ID()})
	if c, ch := st.Claim("k", f.ID(), f.Of("v2")); c || !ch || st.Idents[0].Fingerprint != f.Of("v2") {
		t.Fatalf("v1 refused for good: the name passes on; idents %+v", st.Idents)
	}
}

// TestUnwritten: records kept while writes fail are shown over the state
// read and folded into the next write; the same failure is warned about
// once, a new one again.
func TestUnwritten(t *testing.T) {
	var u Unwritten
	st := &State{}
	if out, gen := u.Over(st); out != st || gen != 0 {
		t.Fatal("nothing kept, yet the state was copied")
	}
	full := &os.PathError{Op: "write", Path: "a", Err: syscall.ENOSPC}
	lock := func(st *State) error { st.SetRecord(Record{Key: "k", State: Lockdown}); return nil }
	if !u.Keep(lock, full) {
		t.Fatal("a first failure not warned about")
	}
	if u.Keep(lock, &os.PathError{Op: "write", Path: "b", Err: syscall.ENOSPC}) {
		t.Fatal("the same failure warned about twice")
	}
	if u.Keep(lock, nil) || !u.Keep(lock, errors.New("down")) {
		t.Fatal("failures told apart wrongly")
	}
	out, gen := u.Over(st)
	if len(out.Records) != 1 || len(st.Records) != 0 {
		t.Fatalf("over %+v, state %+v: want the kept record shown, the state unchanged", out.Records, st.Records)
	}
	mem, pgen := u.Pending()
	if pgen != gen || len(mem.Records) != 1 {
		t.Fatalf("pending %+v (%d), want the record (%d)", mem, pgen, gen)
	}
	if !u.Written(pgen) {
		t.Fatal("a recovery not told")
	}
	if out, _ := u.Over(st); out != st {
		t.Fatal("written, yet still kept")
	}
}

// TestCache: bytes are decoded once, however often loaded; the generation
// moves when records change, not when counts do; damaged bytes read as
// empty and are told once; a draft is a copy the cache does not see.
func TestCache(t *testing.T) {
	var c Cache
	none := func(string) (string, bool) { return "", false }
	a, _ := Encode(&State{Records: []Record{{Key: "k", State: Error}}})
	st, gen, damaged := c.Load(a, none, nil)
	if len(st.Records) != 1 || damaged != nil {
		t.Fatalf("loaded %+v, %v", st, damaged)
	}
	if again, gen2, _ := c.Load(bytes.Clone(a), none, nil); again != st || gen2 != gen {
		t.Fatal("the same bytes decoded again")
	}
	draft := c.Draft(a, none, nil)
	draft.Usage = append(draft.Usage, Usage{Project: "p", Window: "minute", Count: 1})
	draft.Records[0].Reason = "changed"
	if st.Records[0].Reason != "" {
		t.Fatal("a draft changed the cached state")
	}
	draft.Records[0].Reason = ""
	b, _ := Encode(&draft)
	c.Written(b, &draft)
	if _, gen2, _ := c.Load(b, none, nil); gen2 != gen {
		t.Fatal("the generation moved for a count")
	}
	for i, want := range []bool{true, false} {
		st, gen2, damaged := c.Load([]byte(`{"version":9}`), none, nil)
		if (damaged != nil) != want || len(st.Records) != 0 || gen2 == gen {
			t.Fatalf("damaged read %d: %+v, %v, generation %d; want empty, told once, a new generation", i, st, damaged, gen2)
		}
	}
}

// kept is a Store's Update over one connector's bytes.
type kept struct{ data []byte }

func (k *kept) Update(_ context.Context, _ string, fn func([]byte) ([]byte, error)) error {
	out, err := fn(k.data)
	if err != nil {
		return err
	}
	k.data = out
	return nil
}

// Update starts damaged state afresh, and an error of fn changes nothing.
func TestUpdate(t *testing.T) {
	k := &kept{data: []byte("\x00garbage{")}
	err := Update(t.Context(), k, "c", func(st *State) error {
		if len(st.Records) != 0 {
			t.Errorf("damaged state half believed: %+v", st.Records)
		}
		st.SetRecord(Record{Key: "k1", State: Lockdown, Until: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Decode(k.data)
	if err != nil || len(st.Records) != 1 || st.Records[0].Key != "k1" {
		t.Fatalf("after Update: %+v, %v", st, err)
	}
	before := string(k.data)
	refused := errors.New("refused")
	err = Update(t.Context(), k, "c", func(st *State) error {
		st.Forget()
		return refused
	})
	if !errors.Is(err, refused) || string(k.data) != before {
		t.Errorf("an error of fn: %v, state changed %v; want the error and the state as it was", err, string(k.data) != before)
	}
}
