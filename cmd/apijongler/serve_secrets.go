package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unicode"

	"github.com/api-jongler/jongler"
)

// Secrets given to a command are read from files or the environment: the
// command line is readable by every local user (ps, /proc/PID/cmdline). A
// secret given there anyway is taken, with a warning that names the flag.

// minTokenBytes is the length of the shortest token serve takes for a
// listener beyond loopback: 16 random bytes cannot be guessed, and are
// looked for in every form a client could send them in.
const minTokenBytes = 16

// makeToken says how to make a good token.
const makeToken = "make one with: openssl rand -hex 16"

// maxSecretFile bounds what is read of a file of secrets.
const maxSecretFile = 64 << 10

// token is a proxy token and where it was given, to name it in messages
// (never its value).
type token struct {
	value string
	from  string
}

// serveTokens returns the tokens of serve: every line of each --token-file,
// every entry of $APIJONGLER_TOKENS, each --token. For a listener beyond
// loopback it refuses none at all, and any under 16 bytes or holding
// whitespace; on loopback such a token is taken with a warning.
func (a *app) serveTokens(f *serveFlags, listen string) ([]string, error) {
	var all []token
	for _, path := range f.tokenFiles {
		data, err := a.readSecretFile("--token-file", path)
		if err != nil {
			return nil, err
		}
		n := len(all)
		for i, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				all = append(all, token{line, fmt.Sprintf("--token-file %s line %d", path, i+1)})
			}
		}
		if len(all) == n {
			return nil, configError(fmt.Errorf("--token-file %s: holds no token (want one a line); %s", path, makeToken))
		}
	}
	for i, t := range strings.Split(os.Getenv(tokensEnv), ",") {
		if t = strings.TrimSpace(t); t != "" {
			all = append(all, token{t, fmt.Sprintf("$%s entry %d", tokensEnv, i+1)})
		}
	}
	given := 0
	for i, t := range f.tokens {
		if t != "" {
			all = append(all, token{t, fmt.Sprintf("--token %d", i+1)})
			given++
		}
	}
	values := make([]string, len(all))
	secrets := make([]jongler.Key, len(all))
	for i, t := range all {
		values[i] = t.value
		secrets[i] = jongler.Key{Name: "token", Value: t.value}
	}
	a.stdout.addKeys(secrets)
	a.stderr.addKeys(secrets)
	if given > 0 {
		a.warnArgument("--token", "--token-file or $"+tokensEnv)
	}

	public := !isLoopback(listen)
	if len(all) == 0 && public && f.clients.tokensFile == "" {
		return nil, usageErrorf("refusing to listen on %s without a token: anyone who can reach it could spend your keys; give --token-file (or $%s), or listen on 127.0.0.1", listen, tokensEnv)
	}
	for _, t := range all {
		weak := weakness(t.value)
		switch {
		case weak == "":
		case public:
			return nil, configError(fmt.Errorf("%s: refusing a token %s to listen on %s: a token must be at least %d bytes without whitespace; %s", t.from, weak, listen, minTokenBytes, makeToken))
		default:
			a.logger.Warn(fmt.Sprintf("%s: a token %s is taken on loopback only; use one of at least %d bytes without whitespace (%s)", t.from, weak, minTokenBytes, makeToken))
		}
	}
	return values, nil
}

// weakness says what is wrong with a token ("of 6 bytes", "holding
// whitespace"), or "" when nothing is.
func weakness(t string) string {
	switch {
	case strings.ContainsFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "holding whitespace"
	case len(t) < minTokenBytes:
		return fmt.Sprintf("of %d bytes", len(t))
	}
	return ""
}

// warnArgument warns that a secret was given as the argument of flag, and
// where to give it instead. The line never holds the secret.
func (a *app) warnArgument(flag, instead string) {
	a.logger.Warn(fmt.Sprintf("%s puts a secret on the command line, where every local user can read it (ps); give it in %s", flag, instead))
}

// readSecretFile returns what the file at path holds, for flag (named in
// errors): a regular file, read without waiting (a FIFO is refused, not
// waited on), of at most 64 KiB. Like ssh's StrictModes, it refuses a file
// that group or others may write (they could put a secret of theirs in
// it), and warns when they may read it.
func (a *app) readSecretFile(flag, path string) ([]byte, error) {
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, configError(fmt.Errorf("%s %s: "+format, append([]any{flag, path}, args...)...))
	}
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail("%v", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return fail("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return fail("not a regular file (%s)", fi.Mode().Type())
	}
	if runtime.GOOS != "windows" {
		perm := fi.Mode().Perm()
		if perm&0o022 != 0 {
			return fail("group or others may write it (mode %#o); refused: run chmod 600 on it", perm)
		}
		if perm&0o044 != 0 {
			a.logger.Warn(fmt.Sprintf("%s %s: group or others may read it (mode %#o); run chmod 600 on it", flag, path, perm))
		}
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
	if err != nil {
		return fail("%v", err)
	}
	if len(data) > maxSecretFile {
		return fail("over %d bytes; refused", maxSecretFile)
	}
	return data, nil
}
