package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/api-jongler/jongler"
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
	keys, err := a.keysFor(c)
	return c, keys, err
}

// lookupConnector returns the connector called name; an unknown name is
// an error that lists the known ones.
func lookupConnector(name string) (jongler.Connector, error) {
	c, err := jongler.LookupConnector(name, connectorsDir())
	if err != nil {
		return c, configError(err)
	}
	return c, nil
}

// keysFor returns the keys of c from the configuration, none when c needs
// none. Every key value read is redacted from the output from then on.
func (a *app) keysFor(c jongler.Connector) ([]jongler.Key, error) {
	if !c.RequiresAPIKey {
		return nil, nil
	}
	path := a.configFile()
	if path == "" {
		return nil, configError(missingConfig(c.Name))
	}
	cfg, err := jongler.LoadConfig(path, c.Name)
	if err != nil {
		return nil, configError(err)
	}
	keys := cfg.Keys
	a.stdout.addKeys(keys)
	a.stderr.addKeys(keys)
	return keys, nil
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

// configSections returns the connector sections of the INI file at path,
// in file order, without the "[CONNECTOR:projects]" ones. It reads only
// section headers, so that no error of its own can quote a line holding a
// key; jongler.LoadConfig then reads each section.
func configSections(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %s does not exist; create it with a section per connector, such as:\n%s", path, exampleSection("generativelanguage.googleapis.com"))
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "[") || !strings.HasSuffix(line, "]") {
			continue
		}
		name := strings.TrimSpace(line[1 : len(line)-1])
		if name == "" || name == "DEFAULT" || strings.HasSuffix(name, ":projects") {
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return out, nil
}

func exampleSection(connector string) string {
	return fmt.Sprintf("[%s]\nkey1 = your-api-key-1\nkey2 = your-api-key-2", connector)
}
