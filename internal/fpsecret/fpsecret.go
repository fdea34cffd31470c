// Package fpsecret keeps the secret that keys the fingerprints of key
// values (see internal/state.Fingerprinter) out of every store: in a file
// of this user's, mode 0600, made on first use. Whoever reads a store
// (Redis, a state file, a backup of either) then holds fingerprints
// without their key, and cannot test guesses of a key's value offline.
package fpsecret

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/api-jongler/jongler/internal/fsguard"
)

// EnvFile names the environment variable that gives the secret file's
// path: the same file on every machine of a fleet sharing a Redis lets
// their fingerprints compare.
const EnvFile = "APIJONGLER_FINGERPRINT_KEY_FILE"

// what names the file in messages.
const what = "fingerprint key file"

// Path returns where the secret file is: $APIJONGLER_FINGERPRINT_KEY_FILE
// if set, else fingerprint.key in apijongler under the user's
// configuration directory.
func Path() (string, error) {
	if p := os.Getenv(EnvFile); p != "" {
		return p, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("jongler: no place for the %s (set %s): %w", what, EnvFile, err)
	}
	return filepath.Join(d, "apijongler", "fingerprint.key"), nil
}

// Load returns the secret in the file at path, making the file (and its
// directory, mode 0700) with a new random secret if there is none. The
// file is refused unless it is a regular file of this user's that neither
// group nor others may read or write, holding 32 bytes or more in hex.
func Load(path string) ([]byte, error) {
	secret, err := read(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("jongler: %s: %w", what, err)
	}
	if err := create(path); err != nil {
		return nil, err
	}
	return read(path)
}

// create writes a new secret to path, unless a file is there already
// (another process made it first: its secret is the one).
func create(path string) error {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fingerprint-*")
	if err != nil {
		return fmt.Errorf("jongler: %s: %w", what, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(b) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A link is made whole or not at all, and never replaces a file.
		if err = os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("jongler: %s %s: %w", what, path, err)
	}
	return nil
}

func read(path string) ([]byte, error) {
	data, err := fsguard.ReadFile(path, what, 4096)
	if err != nil {
		return nil, err
	}
	if err := private(path); err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(secret) < 32 {
		return nil, fsguard.Refuse("jongler: %s %s does not hold a secret of 32 bytes or more in hex; refused (remove it to make a new one)", what, path)
	}
	return secret, nil
}
