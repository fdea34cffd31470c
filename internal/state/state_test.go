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
		len(st.Secret) != 32 || len(st.Owners) != 1 || st.Backoff.IsZero() {
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

// TestFingerprintTiesErrors: an ERROR earned with one value is dropped
// once the key has another; one of a key not configured stays.
func TestFingerprintTiesErrors(t *testing.T) {
	var st State
	st.SetRecord(Record{Key: "k", State: Error, Fingerprint: st.Fingerprint("old-value")})
	st.SetRecord(Record{Key: "gone", State: Error, Fingerprint: st.Fingerprint("x")})
	values := map[string]string{"k": "old-value"}
	value := func(key string) (string, bool) { v, ok := values[key]; return v, ok }
	st.DropStaleErrors(value)
	if len(st.Records) != 2 {
		t.Fatalf("records %+v: dropped with the value unchanged", st.Records)
	}
	values["k"] = "new-value"
	st.DropStaleErrors(value)
	if len(st.Records) != 1 || st.Records[0].Key != "gone" {
		t.Fatalf("records %+v, want k's dropped and gone's kept", st.Records)
	}
	if bytes.Contains(st.Secret, []byte("old-value")) || st.Records[0].Fingerprint == "x" {
		t.Fatal("a value kept in the state")
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
	st, gen, damaged := c.Load(a, none)
	if len(st.Records) != 1 || damaged != nil {
		t.Fatalf("loaded %+v, %v", st, damaged)
	}
	if again, gen2, _ := c.Load(bytes.Clone(a), none); again != st || gen2 != gen {
		t.Fatal("the same bytes decoded again")
	}
	draft := c.Draft(a, none)
	draft.Usage = append(draft.Usage, Usage{Project: "p", Window: "minute", Count: 1})
	draft.Records[0].Reason = "changed"
	if st.Records[0].Reason != "" {
		t.Fatal("a draft changed the cached state")
	}
	draft.Records[0].Reason = ""
	b, _ := Encode(&draft)
	c.Written(b, &draft)
	if _, gen2, _ := c.Load(b, none); gen2 != gen {
		t.Fatal("the generation moved for a count")
	}
	for i, want := range []bool{true, false} {
		st, gen2, damaged := c.Load([]byte(`{"version":9}`), none)
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
