package jongler

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
)

// Key is one API key: its name in the configuration, its secret value, and
// the Google Cloud project it belongs to (its own name when none is said).
// Its String, GoString and LogValue methods show the name only, so that
// printing or logging a Key never shows the secret.
type Key struct {
	Name    string // the key's name in the configuration; shown in logs and states
	Value   string // the secret itself; never shown
	Project string // the Google Cloud project whose quotas the key shares
}

// String returns the key's name.
func (k Key) String() string { return k.Name }

// GoString returns the key's name and project, never its value.
func (k Key) GoString() string {
	return fmt.Sprintf("jongler.Key{Name: %q, Project: %q, Value: <redacted>}", k.Name, k.Project)
}

// LogValue implements [slog.LogValuer] with the key's name.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.Name) }

// exampleSection is shown when a configuration lacks the connector.
func exampleSection(connector string) string {
	return fmt.Sprintf("[%s]\nkey1 = your-api-key-1\nkey2 = your-api-key-2", connector)
}

// Config is what an INI file says of one connector.
type Config struct {
	// Keys are the connector's keys, in the file's order.
	Keys []Key
	// Budgets are the request budgets per model, from the optional
	// section "[CONNECTOR:budgets]"; see [Budget].
	Budgets []Budget
}

// LoadConfig reads what the INI file at path says of connector: the
// section named like the connector holds "name = value" lines, names kept
// as written, values taken literally (no interpolation, no inline
// comments). An optional section "[CONNECTOR:projects]" says which keys
// share a Google Cloud project, and so its quotas:
//
//	[generativelanguage.googleapis.com:projects]
//	my-project = key1, key2
//
// and an optional "[CONNECTOR:budgets]" holds lines "MODEL = N/min, N/day",
// MODEL being a model name or "*" for every model without a line of its
// own. Errors name the file and line and never show a key's value.
func LoadConfig(path, connector string) (Config, error) {
	keys, f, data, err := loadKeys(path, connector)
	if err != nil {
		return Config{}, err
	}
	budgets, err := parseBudgets(f, data, path, connector)
	if err != nil {
		return Config{}, err
	}
	return Config{Keys: keys, Budgets: budgets}, nil
}

func loadKeys(path, connector string) ([]Key, *ini.File, []byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("jongler: config file %s does not exist; create it with a section such as:\n%s", path, exampleSection(connector))
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("jongler: config file: %w", err)
	}
	f, err := ini.LoadSources(ini.LoadOptions{
		IgnoreInlineComment:       true,
		IgnoreContinuation:        true, // a trailing \ is part of the value
		PreserveSurroundedQuote:   true, // so are quotes, as in configparser
		AllowShadows:              true,
		PreserveEmptyShadowValues: true,
		KeyValueDelimiters:        "=:",
	}, data)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("jongler: config file %s: %v", path, redactINIError(err, data))
	}
	sec, err := f.GetSection(connector)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("jongler: config file %s has no section [%s]; add one such as:\n%s", path, connector, exampleSection(connector))
	}
	var keys []Key
	for _, k := range sec.Keys() {
		vals := k.ValueWithShadows()
		line := iniLine(data, connector, k.Name())
		switch {
		case len(vals) > 1:
			return nil, nil, nil, fmt.Errorf("jongler: config file %s:%d: key %q is given %d times in [%s]", path, line, k.Name(), len(vals), connector)
		case strings.TrimSpace(k.Value()) == "":
			return nil, nil, nil, fmt.Errorf("jongler: config file %s:%d: key %q in [%s] has an empty value", path, line, k.Name(), connector)
		}
		keys = append(keys, Key{Name: k.Name(), Value: strings.TrimSpace(k.Value()), Project: k.Name()})
	}
	if len(keys) == 0 {
		return nil, nil, nil, fmt.Errorf("jongler: config file %s: section [%s] has no keys; add lines such as:\n%s", path, connector, exampleSection(connector))
	}
	if err := assignProjects(f, data, path, connector, keys); err != nil {
		return nil, nil, nil, err
	}
	return keys, f, data, nil
}

// assignProjects applies the "[CONNECTOR:projects]" section, if any.
func assignProjects(f *ini.File, data []byte, path, connector string, keys []Key) error {
	name := connector + ":projects"
	sec, err := f.GetSection(name)
	if err != nil {
		return nil
	}
	seen := map[string]string{}
	for _, p := range sec.Keys() {
		line := iniLine(data, name, p.Name())
		for _, kn := range strings.Split(p.Value(), ",") {
			kn = strings.TrimSpace(kn)
			if kn == "" {
				continue
			}
			i := slices.IndexFunc(keys, func(k Key) bool { return k.Name == kn })
			if i < 0 {
				return fmt.Errorf("jongler: config file %s:%d: project %q names key %q, which is not in [%s]", path, line, p.Name(), kn, connector)
			}
			if prev, dup := seen[kn]; dup {
				return fmt.Errorf("jongler: config file %s:%d: key %q is in projects %q and %q", path, line, kn, prev, p.Name())
			}
			seen[kn] = p.Name()
			keys[i].Project = p.Name()
		}
	}
	return nil
}

// iniLine finds the line of key name in section, for error messages; 0 when
// not found.
func iniLine(data []byte, section, name string) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	in := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			in = strings.TrimSpace(line[1:len(line)-1]) == section
			continue
		}
		if !in {
			continue
		}
		if i := strings.IndexAny(line, "=:"); i > 0 && strings.TrimSpace(line[:i]) == name {
			return n
		}
	}
	return 0
}

// redactINIError keeps the parser's complaint and says on which line, but
// drops the line's text, which the parser appends or quotes and which
// could hold a key: "key-value delimiter not found: AIza...", "missing
// closing key quote from \"\"\"AIza...\" to \"\"". Nothing of the
// message from its first quote on is kept, whatever its form.
func redactINIError(err error, data []byte) string {
	msg, text, found := strings.Cut(err.Error(), ": ")
	if m, quoted, ok := strings.Cut(msg, " from "); ok {
		// missing closing key quote from "LINE" to "NEXT"
		msg, text, found = m, quoted, true
		if q, err := strconv.QuotedPrefix(quoted); err == nil {
			text, _ = strconv.Unquote(q)
		}
	}
	if i := strings.IndexAny(msg, "\"'`"); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	if !found {
		return msg + " (the line is not shown: it may hold a key)"
	}
	text = strings.Trim(strings.TrimSpace(text), `'"`)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if line := strings.TrimSpace(sc.Text()); line != "" && (line == text || strings.HasPrefix(text, line) || len(text) >= 3 && strings.Contains(line, text)) {
			return fmt.Sprintf("line %d: %s (the line is not shown: it may hold a key)", n, msg)
		}
	}
	return msg + " (the line is not shown: it may hold a key)"
}
