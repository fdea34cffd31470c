package jongler_test

import (
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestDuplicateValueRefused: one value under two names would serve two
// requests at once, each name's lease ignoring the other's. Keys given
// with WithKeys, and keys of the INI file, are refused at load with one
// error naming both names, never the value.
func TestDuplicateValueRefused(t *testing.T) {
	const secret = "AIzaSyDUPLICATE-0123456789abcdefghijk"
	check := func(t *testing.T, err error, names ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("one value under two names was accepted")
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || strings.Contains(msg, secret[:12]) {
			t.Errorf("the error shows the value: %v", msg)
		}
		for _, n := range append(names, "same value") {
			if !strings.Contains(msg, n) {
				t.Errorf("error %q does not say %q", msg, n)
			}
		}
	}
	t.Run("WithKeys", func(t *testing.T) {
		_, err := jongler.NewTransport(gem, jongler.WithStore(jongler.NewMemoryStore()), jongler.WithKeys(
			jongler.Key{Name: "first", Value: secret},
			jongler.Key{Name: "other", Value: "AIzaSyOTHER-0123456789abcdefghijklmno"},
			jongler.Key{Name: "second", Value: secret},
		))
		check(t, err, `"first"`, `"second"`)
	})
	ini := "[generativelanguage.googleapis.com]\nfirst = " + secret + "\nsecond = " + secret + "\n"
	t.Run("INI file", func(t *testing.T) {
		path := writeFile(t, "keys.ini", ini)
		_, err := jongler.LoadConfig(path, gem)
		check(t, err, "keys.ini:3", `"first"`, `"second"`)
		_, err = jongler.NewTransport(gem, jongler.WithStore(jongler.NewMemoryStore()), jongler.WithConfigFile(path))
		check(t, err, "keys.ini:3", `"first"`, `"second"`)
	})
}
