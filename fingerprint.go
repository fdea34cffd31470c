package jongler

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
)

// fingerprint returns a keyed hash of a key's value (HMAC-SHA256 under the
// state's secret, 128 bits in hex), made when a key earns an ERROR so that
// the record holds only for that value: fixing a key's value in the
// configuration starts it afresh, with no cleanup. The value cannot be
// recovered from it, nor guessed without the secret. A state without a
// secret gets one, to be written with it.
func (s *state) fingerprint(value string) string {
	if len(s.Secret) == 0 {
		s.Secret = make([]byte, 32)
		rand.Read(s.Secret) // never fails (crypto/rand panics rather)
	}
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// dropStaleErrors drops the ERROR records earned with another value than
// the key of that name has now. Records without a fingerprint (written
// before there were any) stay.
func (s *state) dropStaleErrors(keys []Key) {
	if len(s.Secret) == 0 || !slices.ContainsFunc(s.Records, func(r record) bool { return r.Fingerprint != "" }) {
		return
	}
	fps := map[string]string{}
	s.Records = slices.DeleteFunc(s.Records, func(r record) bool {
		if r.State != StateError || r.Fingerprint == "" {
			return false
		}
		fp, ok := fps[r.Key]
		if !ok {
			i := slices.IndexFunc(keys, func(k Key) bool { return k.Name == r.Key })
			if i < 0 {
				return false // not ours to judge
			}
			fp = s.fingerprint(keys[i].Value)
			fps[r.Key] = fp
		}
		return !hmac.Equal([]byte(fp), []byte(r.Fingerprint))
	})
}
