package state

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
)

// Fingerprinter makes the keyed hashes that tie a record to a key's value:
// HMAC-SHA256 under a secret the store never holds (see
// internal/fpsecret), so that whoever reads the store cannot test guesses
// of a key's value offline. Fingerprints made under different secrets do
// not compare: each carries the secret's ID, a hash that says nothing of
// the secret nor of any value.
type Fingerprinter struct {
	secret []byte
	id     string
}

// NewFingerprinter returns a Fingerprinter keyed by secret, which it keeps.
func NewFingerprinter(secret []byte) *Fingerprinter {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("jongler fingerprint secret id"))
	return &Fingerprinter{secret: secret, id: hex.EncodeToString(m.Sum(nil)[:8])}
}

// ID names the secret in the records, so that processes under another
// secret know they cannot judge a fingerprint.
func (f *Fingerprinter) ID() string { return f.id }

// Of returns the fingerprint of value: 128 bits of its HMAC, in hex.
func (f *Fingerprinter) Of(value string) string { return hmacHex(f.secret, value) }

func hmacHex(secret []byte, value string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// For reports whether r holds for the key whose value has fingerprint fp
// under the secret of ID id. A record without a fingerprint, or made under
// another secret, holds for every value under its key's name: it cannot be
// told apart, and holding a key back is the safe side.
func (r Record) For(fp, id string) bool {
	return r.Fingerprint == "" || r.SecretID != id || r.Fingerprint == fp
}

// Upgrade turns the fingerprints of a state written when the store kept
// the secret (OldSecret) into fingerprints under f, and drops that secret:
// an ERROR earned with the value a key has now (value tells it; false: a
// key not configured here) is fingerprinted anew, one earned with another
// value is dropped, as it was then; a record of a key not configured here
// keeps its old fingerprint, which holds by name (see For) until a cleanup.
func (s *State) Upgrade(value func(key string) (string, bool), f *Fingerprinter) {
	if len(s.OldSecret) == 0 {
		return
	}
	old := s.OldSecret
	s.OldSecret = nil
	s.Records = slices.DeleteFunc(s.Records, func(r Record) bool {
		if r.Fingerprint == "" || r.SecretID != "" {
			return false
		}
		v, known := value(r.Key)
		if !known {
			return false
		}
		return !hmac.Equal([]byte(hmacHex(old, v)), []byte(r.Fingerprint))
	})
	for i, r := range s.Records {
		if r.Fingerprint == "" || r.SecretID != "" {
			continue
		}
		if v, known := value(r.Key); known {
			s.Records[i].Fingerprint, s.Records[i].SecretID = f.Of(v), f.ID()
		}
	}
}

// Claim records that the key named name has, under the secret of ID id,
// the value of fingerprint fp in this store. It reports a conflict, and
// changes nothing, when the name is claimed under the same secret for
// another value still in use: another configuration on the same store
// reuses the name. A value refused for good (an ERROR of its fingerprint)
// is not in use, and the name passes to the new one. changed says whether
// s was changed.
func (s *State) Claim(name, id, fp string) (conflict, changed bool) {
	i := slices.IndexFunc(s.Idents, func(c Ident) bool { return c.Key == name && c.SecretID == id })
	if i < 0 {
		s.Idents = append(s.Idents, Ident{Key: name, SecretID: id, Fingerprint: fp})
		return false, true
	}
	old := s.Idents[i].Fingerprint
	if old == fp {
		return false, false
	}
	dead := slices.ContainsFunc(s.Records, func(r Record) bool {
		return r.Key == name && r.State == Error && r.Model == "" && r.SecretID == id && r.Fingerprint == old
	})
	if !dead {
		return true, false
	}
	s.Idents[i].Fingerprint = fp
	return false, true
}
