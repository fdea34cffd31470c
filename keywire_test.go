package jongler_test

import "github.com/api-jongler/jongler"

// wireKey carries a key, value included, to a child process as JSON: a
// jongler.Key marshals as its name only.
type wireKey struct{ Name, Value, Project string }

func toWire(keys ...jongler.Key) []wireKey {
	out := make([]wireKey, len(keys))
	for i, k := range keys {
		out[i] = wireKey(k)
	}
	return out
}

func fromWire(keys ...wireKey) []jongler.Key {
	out := make([]jongler.Key, len(keys))
	for i, k := range keys {
		out[i] = jongler.Key(k)
	}
	return out
}
