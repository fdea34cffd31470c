package state

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
)

// Fingerprint returns a keyed hash of a key's value (HMAC-SHA256 under the
// state's secret, 128 bits in hex), made when a key earns an ERROR so that
// the record holds only for that value: fixing a key's value in the
// configuration starts it afresh, with no cleanup. The value cannot be
// recovered from it, nor guessed without the secret. A state without a
// secret gets one, to be written with it.
func (s *State) Fingerprint(value string) string {
	if len(s.Secret) == 0 {
		s.Secret = make([]byte, 32)
		rand.Read(s.Secret) // never fails (crypto/rand panics rather)
	}
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// DropStaleErrors drops the ERROR records earned with another value than
// the key of that name has now, as value tells it (false: a key not
// configured, not ours to judge). Records without a fingerprint (written
// before there were any) stay.
func (s *State) DropStaleErrors(value func(key string) (string, bool)) {
	if len(s.Secret) == 0 || !slices.ContainsFunc(s.Records, func(r Record) bool { return r.Fingerprint != "" }) {
		return
	}
	fps := map[string]string{}
	s.Records = slices.DeleteFunc(s.Records, func(r Record) bool {
		if r.State != Error || r.Fingerprint == "" {
			return false
		}
		fp, ok := fps[r.Key]
		if !ok {
			v, known := value(r.Key)
			if !known {
				return false
			}
			fp = s.Fingerprint(v)
			fps[r.Key] = fp
		}
		return !hmac.Equal([]byte(fp), []byte(r.Fingerprint))
	})
}
