package jongler

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/api-jongler/jongler/internal/egress"
	"github.com/api-jongler/jongler/internal/keyfile"
)

// Key is one API key: its name in the configuration, its secret value, and
// the Google Cloud project it belongs to (its own name when none is said).
// A Key prints (every fmt verb: %v, %+v, %s, %q, %d, %x...; %#v adds the
// project), marshals (encoding/json, encoding.TextMarshaler) and logs
// (slog.LogValuer, slog's JSON and text handlers) as its name only, so
// that printing, encoding or logging a Key, or a value holding one in an
// exported field (a [Config], a []Key), never shows the secret. Two
// cases escape, because fmt prints them by reflection without asking the
// Key: a Key in an unexported struct field, and the wrong verb %p on a
// Key that is not a pointer (which go vet reports).
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

// Format implements [fmt.Formatter]: %#v is [Key.GoString], any other verb
// formats the key's name as a string would be (%d and other verbs for
// numbers print the name too), flags and width kept.
func (k Key) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			io.WriteString(f, k.GoString())
			return
		}
		verb = 's'
	case 's', 'q', 'x', 'X':
	default:
		verb = 's'
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), k.Name)
}

// MarshalText implements [encoding.TextMarshaler] with the key's name, so
// that encoding/json (and any encoder that honours TextMarshaler) writes
// a Key as the string of its name.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.Name), nil }

// exampleSection is shown when a configuration lacks the connector.
func exampleSection(connector string) string { return keyfile.ExampleSection(connector) }

// Config is what an INI file says of one connector.
type Config struct {
	// Keys are the connector's keys, in the file's order.
	Keys []Key
	// Budgets are the request budgets per model, from the optional
	// section "[CONNECTOR:budgets]"; see [Budget].
	Budgets []Budget
	// BaseURL is the section's "base_url = http(s)://host[:port][/path]"
	// line, if any: the address requests go to instead of the
	// connector's own, as [WithBaseURL] says (which overrides it).
	BaseURL string
}

// LogValue implements [slog.LogValuer]: the keys' names and the budgets.
func (c Config) LogValue() slog.Value {
	names := make([]string, len(c.Keys))
	for i, k := range c.Keys {
		names[i] = k.Name
	}
	return slog.GroupValue(slog.Any("keys", names), slog.Any("budgets", c.Budgets))
}

// LoadConfig reads what the INI file at path says of connector. The file
// reads as the original's Python configparser reads it: the section named
// like the connector holds "name = value" (or "name: value") lines, names
// kept as written and compared whatever their case, values taken
// literally (no interpolation, no inline comment, quotes kept), a line
// indented deeper than a key continuing its value, the keys of [DEFAULT]
// keys of every section too. An optional section "[CONNECTOR:projects]"
// says which keys share a Google Cloud project, and so its quotas:
//
//	[generativelanguage.googleapis.com:projects]
//	my-project = key1, key2
//
// and an optional "[CONNECTOR:budgets]" holds lines "MODEL = N/min, N/day",
// MODEL being a model name or "*" for every model without a line of its
// own. Errors name the file and line and never show a text that is a
// key's value anywhere in the file. A key the file gives but an upstream
// will refuse (its value in quotes, followed by a comment, on several
// lines, or a key of [DEFAULT]) is read and warned of through
// [slog.Default], naming the key, never its value; [NewTransport] warns
// through the logger of [WithLogger] instead.
func LoadConfig(path, connector string) (Config, error) {
	names := []string{connector}
	if all, err := Connectors(""); err == nil { // a bundled connector's sections may be named by alias
		if bc, ok := resolveConnector(all, connector); ok {
			names = append([]string{bc.Name}, bc.Aliases...)
		}
	}
	cfg, _, err := loadConfig(path, slog.Default(), names...)
	return cfg, err
}

// loadConfig reads the connector whose name and aliases are names (the
// name first) from the INI file at path, warning logger (if not nil) of
// keys an upstream will refuse. It returns the connector's egress section
// too.
func loadConfig(path string, logger *slog.Logger, names ...string) (Config, egress.Table, error) {
	f, err := keyfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil, keyfile.MissingError(path, names[0])
	}
	if err != nil {
		return Config{}, nil, err
	}
	c, err := f.Connector(names[0], names[1:]...)
	if err != nil {
		return Config{}, nil, err
	}
	if logger != nil {
		for _, w := range c.Warnings {
			logger.Warn(w)
		}
	}
	cfg := Config{BaseURL: c.BaseURL}
	for _, k := range c.Keys {
		cfg.Keys = append(cfg.Keys, Key{Name: k.Name, Value: k.Value, Project: k.Project})
	}
	for _, b := range c.Budgets {
		cfg.Budgets = append(cfg.Budgets, Budget{Model: b.Model, PerMinute: b.PerMinute, PerDay: b.PerDay})
	}
	return cfg, c.EgressTable(), nil
}

// The environment variables read when no option says otherwise, as the
// original API Jongler read APIJONGLER_CONFIG.
const (
	// ConfigEnv holds the path of the INI file of keys.
	ConfigEnv = "APIJONGLER_CONFIG"
	// ConnectorsDirEnv points at a directory of connector files adding to
	// or overriding the bundled ones.
	ConnectorsDirEnv = "APIJONGLER_CONNECTORS"
	// StateDirEnv sets the state directory of the file store.
	StateDirEnv = "APIJONGLER_STATE_DIR"
	// TorEnv, set to a SOCKS5 address, routes requests through it as
	// [WithTor] does.
	TorEnv = "APIJONGLER_TOR"
)

// resolveConfig returns the keys and budgets given as options or read from
// the INI file, and the file's egress section.
func resolveConfig(c Connector, o *options) (Config, egress.Table, error) {
	keys := slices.Clone(o.keys)
	var budgets []Budget
	var table egress.Table
	var baseURL string
	if !o.keysSet && c.RequiresAPIKey {
		path := o.configFile
		if path == "" {
			path = os.Getenv(ConfigEnv)
		}
		if path == "" {
			return Config{}, nil, fmt.Errorf("jongler: no keys for %s: set %s to an INI file such as:\n%s", c.Name, ConfigEnv, exampleSection(c.Name))
		}
		cfg, egressLines, err := loadConfig(path, o.logger, append([]string{c.Name}, c.Aliases...)...) // user connectors' aliases too
		if err != nil {
			return Config{}, nil, err
		}
		keys, budgets, table, baseURL = cfg.Keys, cfg.Budgets, egressLines, cfg.BaseURL
	}
	if o.budgetsSet {
		budgets = o.budgets
	}
	slices.SortStableFunc(keys, func(a, b Key) int { return strings.Compare(a.Name, b.Name) })
	for i, k := range keys {
		switch {
		case k.Name == "":
			return Config{}, nil, errors.New("jongler: a key has an empty name")
		case strings.TrimSpace(k.Value) == "":
			return Config{}, nil, fmt.Errorf("jongler: key %q has an empty value", k.Name)
		case i > 0 && keys[i-1].Name == k.Name:
			return Config{}, nil, fmt.Errorf("jongler: key %q is given twice", k.Name)
		}
		if k.Project == "" {
			keys[i].Project = k.Name
		}
	}
	if i, j, dup := keyfile.SameValue(len(keys), func(i int) string { return keys[i].Value }); dup {
		return Config{}, nil, fmt.Errorf("jongler: keys %q and %q have the same value; %s", keys[i].Name, keys[j].Name, keyfile.SameValueFix)
	}
	// Projects name budget counters and learned quotas in the store: a
	// key's value must not be one (a key's own name is one by default,
	// and shown everywhere anyway).
	values := make(map[string]bool, len(keys))
	for _, k := range keys {
		values[k.Value] = true
	}
	for _, k := range keys {
		if k.Project != k.Name && values[k.Project] {
			return Config{}, nil, fmt.Errorf("jongler: key %q: its project is a key's value; name the project", k.Name)
		}
	}
	return Config{Keys: keys, Budgets: budgets, BaseURL: baseURL}, table, nil
}
