package jongler_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
)

// FuzzStateFile puts any bytes where a connector's state.json goes and uses
// the file store on it: Load never fails nor panics and never returns a
// record without a key or with an unknown state; Update always succeeds,
// after which the file parses (version 1) and holds the record written.
func FuzzStateFile(f *testing.F) {
	until := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range []string{
		`{"version":1}`,
		`{"version":1,"records":[{"key":"k1","state":"LOCKDOWN","model":"m","until":"2099-01-01T00:00:00Z","reason":"quota"},{"key":"k2","state":"ERROR"}],"backoff":"2099-01-01T00:00:00Z","usage":[{"project":"p","model":"m","window":"minute","start":"2026-01-01T00:00:00Z","count":3}],"throttles":[{"project":"p","at":"2026-01-01T00:00:00Z"}]}`,
		`{"version":1,"records":[{"key":"","state":"LOCKDOWN"}]}`,
		`{"version":1,"records":[{"key":"k","state":"VACANT"}]}`,
		`{"version":2}`,
		`{"version":1}{"version":1}`,
		`{"version":1,"records":null,"usage":{}}`,
		`{"version":1,"records":[{"key":"k","state":"LOCKDOWN","until":"not a time"}]}`,
		`{"version":1,"records":[{"key":"k","state":"LOCKDOWN","until":"-0001-01-01T00:00:00Z"}]}`,
		`{"version":1.5}`,
		`{"version":1`,
		"",
		"\x00\x01\x02",
		`[]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		conn := filepath.Join(dir, "c")
		if err := os.MkdirAll(conn, 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(conn, "state.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := jongler.NewFileStore(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		var st jongler.State
		within(t, data, func() { st, err = jongler.LoadState(ctx, s, "c") })
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		for _, r := range st.Records {
			if r.Key == "" || r.State != jongler.RecordLockdown && r.State != jongler.RecordError {
				t.Fatalf("Load believed the record %+v", r)
			}
		}
		err = jongler.UpdateState(ctx, s, "c", func(st *jongler.State) error {
			st.Records = append(st.Records, jongler.Record{Key: "fuzz", State: jongler.RecordLockdown, Until: until, Reason: "fuzz"})
			return nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		out, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Version int `json:"version"`
		}
		if err := json.Unmarshal(out, &v); err != nil || v.Version != 1 {
			t.Fatalf("state file after Update: version %d, %v:\n%s", v.Version, err, out)
		}
		fresh, _ := jongler.NewFileStore(dir, nil)
		st, err = jongler.LoadState(ctx, fresh, "c")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range st.Records {
			found = found || r.Key == "fuzz" && r.Until.Equal(until)
		}
		if !found {
			t.Fatalf("the record written is not read back: %+v\nfile:\n%s", st, out)
		}
		// What did not parse was set aside, as it was.
		if aside, err := os.ReadFile(path + ".damaged"); err == nil && string(aside) != string(data) {
			t.Fatalf("set aside as something else")
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if names, _ := filepath.Glob(filepath.Join(conn, ".state-*")); len(names) > 0 {
			t.Fatalf("temporary files left: %v", names)
		}
	})
}
