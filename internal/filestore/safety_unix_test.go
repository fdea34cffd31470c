//go:build unix

package filestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The state directory is the user's own: see safety.go.

// TestStateDirModesRefused: a state, connector or keys directory that group
// or others may write is refused with an error naming it and saying what
// is wrong.
func TestStateDirModesRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		sub  string // the directory opened too wide, under the state directory
		mode os.FileMode
	}{
		{"state dir 0777", "", 0o777},
		{"state dir 0770", "", 0o770},
		{"state dir 0702", "", 0o702},
		{"connector dir 0777", drillConn, 0o777},
		{"keys dir 0757", filepath.Join(drillConn, "keys"), 0o757},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := filepath.Join(dir, tc.sub)
			if err := os.MkdirAll(bad, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(bad, tc.mode); err != nil {
				t.Fatal(err)
			}
			s, err := New(dir, nil, nil)
			if err == nil {
				_, err = s.Acquire(ctx, drillConn, drillKeys, 1)
			}
			if err == nil {
				t.Fatalf("a %s was accepted", tc.name)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "jongler: ") || !strings.Contains(msg, bad+" ") || !strings.Contains(msg, "writable by group or others") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and saying it is writable by group or others", msg, bad)
			}
		})
	}
}

// TestStateDirForeignOwnerRefused: a state directory owned by another user
// is refused. It needs root to give the directory away (CI runs as root).
func TestStateDirForeignOwnerRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("NOT RUN: giving a directory to another user needs root; CI runs as root")
	}
	dir := t.TempDir()
	for _, sub := range []string{"", drillConn, filepath.Join(drillConn, "keys")} {
		t.Run("owner of "+filepath.Join("STATE", sub), func(t *testing.T) {
			root := filepath.Join(dir, strings.ReplaceAll(sub, "/", "_")+"x")
			bad := filepath.Join(root, sub)
			os.MkdirAll(bad, 0o700)
			if err := os.Chown(bad, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			s, err := New(root, nil, nil)
			if err == nil {
				_, err = s.Acquire(context.Background(), drillConn, drillKeys, 1)
			}
			if err == nil || !strings.Contains(err.Error(), bad+" is owned by uid 65534, not by this user") {
				t.Fatalf("err = %v; want a refusal naming %s and its owner", err, bad)
			}
		})
	}
}
