package filestore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStateFileRoundTrip: what Update writes, Load reads back; a file the
// store's check refuses is read as empty, set aside as state.json.damaged
// with one warning however often it is read, and Update then starts from
// no state.
func TestStateFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs bytes.Buffer
	open := func() *Store {
		t.Helper()
		s, err := New(dir, slog.New(slog.NewTextHandler(&logs, nil)), func(b []byte) error {
			if !bytes.HasPrefix(b, []byte("state ")) {
				return errors.New("not a state")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := open()
	put := func(b string) {
		t.Helper()
		if err := s.Update(ctx, drillConn, func([]byte) ([]byte, error) { return []byte(b), nil }); err != nil {
			t.Fatal(err)
		}
	}
	put("state 1")
	if got, err := s.Load(ctx, drillConn); err != nil || string(got) != "state 1" {
		t.Fatalf("Load: %q, %v", got, err)
	}
	path := filepath.Join(dir, drillConn, "state.json")
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A store trusts its copy for a while on the use table's word: the
	// file is damaged behind its back, so a fresh store reads it.
	s = open()
	for range 5 {
		if got, err := s.Load(ctx, drillConn); err != nil || got != nil {
			t.Fatalf("Load of a damaged file: %q, %v; want nothing", got, err)
		}
	}
	if n := strings.Count(logs.String(), "damaged state file"); n != 1 {
		t.Errorf("%d warnings about the damaged file, want 1:\n%s", n, logs.String())
	}
	if aside, err := os.ReadFile(path + ".damaged"); err != nil || string(aside) != "garbage" {
		t.Errorf("damaged file not set aside as it was: %q, %v", aside, err)
	}
	err := s.Update(ctx, drillConn, func(old []byte) ([]byte, error) {
		if old != nil {
			t.Errorf("Update after the damage was given %q, want nothing", old)
		}
		return []byte("state 2"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, drillConn); err != nil || string(got) != "state 2" {
		t.Fatalf("Load after Update: %q, %v", got, err)
	}
}
