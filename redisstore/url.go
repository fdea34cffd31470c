package redisstore

import (
	"errors"
	"net/url"
	"strings"
)

// Redact returns rawURL with its password, if any, replaced by "xxxxx", for
// messages and logs. A URL that does not parse is replaced by "<redis URL>"
// entirely, since where its password lies is unknown.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<redis URL>"
	}
	return u.Redacted()
}

// redactErr returns err's message with every part of rawURL that could be
// secret (its password, its user info, the whole URL) removed.
func redactErr(err error, rawURL string) error {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	msg = strings.ReplaceAll(msg, rawURL, Redact(rawURL))
	return errors.New(msg)
}
