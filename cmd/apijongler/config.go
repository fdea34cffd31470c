package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/keyfile"
)

// configFile returns the INI file of keys: --config, else $APIJONGLER_CONFIG.
func (a *app) configFile() string {
	if a.configPath != "" {
		return a.configPath
	}
	return os.Getenv(jongler.ConfigEnv)
}

// connectorsDir returns the directory of the user's connector files.
func connectorsDir() string { return os.Getenv(jongler.ConnectorsDirEnv) }

// connectorKeys returns the connector called name and its keys from the
// configuration (none when the connector needs none).
func (a *app) connectorKeys(name string) (jongler.Connector, []jongler.Key, error) {
	c, err := lookupConnector(name)
	if err != nil {
		return c, nil, err
	}
	keys, _, err := a.keysFor(c)
	return c, keys, err
}

// lookupConnector returns the connector called name; an unknown name is
// an error that suggests the names it may be a typo of, and lists the
// known ones.
func lookupConnector(name string) (jongler.Connector, error) {
	c, err := jongler.LookupConnector(name, connectorsDir())
	if err == nil {
		return c, nil
	}
	all, lerr := jongler.Connectors(connectorsDir())
	if lerr != nil {
		return c, configError(lerr)
	}
	if _, ok := all[name]; ok { // known, yet not loaded: say why
		return c, configError(err)
	}
	var names, aliases []string
	for n, c := range all {
		names = append(names, n)
		aliases = append(aliases, c.Aliases...)
	}
	slices.Sort(names)
	slices.Sort(aliases)
	known := strings.Join(names, ", ")
	if s := suggest(name, slices.Concat(aliases, names)); len(s) > 0 {
		return c, configError(fmt.Errorf("unknown connector %q; did you mean %s? (known connectors: %s)", name, strings.Join(s, " or "), known))
	}
	return c, configError(fmt.Errorf("unknown connector %q; known connectors: %s", name, known))
}

// keysFor returns the keys of c from the configuration, none when c needs
// none, with the budgets the file gives c.
func (a *app) keysFor(c jongler.Connector) ([]jongler.Key, []jongler.Budget, error) {
	if !c.RequiresAPIKey {
		return nil, nil, nil
	}
	f, err := a.iniFile(c.Name)
	if err != nil {
		return nil, nil, err
	}
	cc, err := f.Connector(c.Name, c.Aliases...)
	if err != nil {
		return nil, nil, configError(err)
	}
	for _, w := range cc.Warnings {
		a.logger.Warn(strings.TrimPrefix(w, "jongler: "))
	}
	var keys []jongler.Key
	for _, k := range cc.Keys {
		keys = append(keys, jongler.Key{Name: k.Name, Value: k.Value, Project: k.Project})
	}
	var budgets []jongler.Budget
	for _, b := range cc.Budgets {
		budgets = append(budgets, jongler.Budget{Model: b.Model, PerMinute: b.PerMinute, PerDay: b.PerDay})
	}
	return keys, budgets, nil
}

// iniFile reads the INI file of keys once a run. From then on, every text
// of it that is or may be a key's value is redacted from the output,
// whichever connector it belongs to. connector is the one the command is
// about, for the example of a file to create.
func (a *app) iniFile(connector string) (*keyfile.File, error) {
	if a.ini != nil {
		return a.ini, nil
	}
	path := a.configFile()
	if path == "" {
		return nil, configError(missingConfig(connector))
	}
	f, err := keyfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, configError(keyfile.MissingError(path, connector))
	}
	if err != nil {
		return nil, configError(err)
	}
	a.warnReadableConfig(path)
	a.stdout.addSecrets(f.Secrets())
	a.stderr.addSecrets(f.Secrets())
	a.ini = f
	return f, nil
}

// missingConfig explains how to give keys when no INI file is named.
func missingConfig(connector string) error {
	return fmt.Errorf(`no keys for %s: name an INI file of keys with --config or $%s.
The file has one section per connector and one "name = key" line per key:

[%s]
key1 = your-api-key-1
key2 = your-api-key-2
key3 = your-api-key-3

for instance:
  export %s=$HOME/.config/apijongler/APIJongler.ini`,
		connector, jongler.ConfigEnv, connector, jongler.ConfigEnv)
}

// sectionConnectors returns the connectors that f's sections of keys name,
// by name or alias, each once, warning about sections that name none.
func (a *app) sectionConnectors(f *keyfile.File) []jongler.Connector {
	var out []jongler.Connector
	if _, err := jongler.Connectors(connectorsDir()); err != nil {
		// Every section would be skipped: say why once, not "no known
		// connector" for each (the error names the file, never a key).
		a.logger.Warn("the connector files cannot be read; sections of keys are skipped", "err", err)
		return nil
	}
	for _, s := range f.Connectors() {
		if s == serveSection || s == keyfile.RoutesSection {
			continue // serve's settings and routes, not keys
		}
		c, err := jongler.LookupConnector(s, connectorsDir())
		if err != nil {
			a.logger.Warn("config section names no known connector; skipped", "section", f.SectionName(s))
			continue
		}
		if !slices.ContainsFunc(out, func(o jongler.Connector) bool { return o.Name == c.Name }) {
			out = append(out, c) // [gemini] is generativelanguage.googleapis.com
		}
	}
	return out
}

// warnStrayKeysEnv warns of each non-empty $APIJONGLER_KEYS_<NAME> whose
// NAME is no known connector's name or alias: its keys are not served.
// The warning suggests the variables it may be a typo of, and shows no
// value.
func (a *app) warnStrayKeysEnv() {
	all, err := jongler.Connectors(connectorsDir())
	if err != nil {
		return // the command says so where it needs the connectors
	}
	var known []string
	for _, c := range all {
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			known = append(known, strings.TrimPrefix(envName(n), keysEnvPrefix))
		}
	}
	slices.Sort(known)
	var stray []string
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if rest, ok := strings.CutPrefix(name, keysEnvPrefix); ok && strings.TrimSpace(value) != "" && !slices.Contains(known, rest) {
			stray = append(stray, name)
		}
	}
	slices.Sort(stray)
	for _, name := range stray {
		msg := name + " names no connector; its keys are not served"
		if s := suggest(strings.TrimPrefix(name, keysEnvPrefix), known); len(s) > 0 {
			for i := range s {
				s[i] = keysEnvPrefix + s[i]
			}
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		a.logger.Warn(msg)
	}
}
