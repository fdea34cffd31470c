package main

import (
	"slices"

	"github.com/api-jongler/jongler"
)

// egressOptions returns the option that sends c's keys out the ways the
// INI file's "[CONNECTOR:egress]" section says, none when the file has no
// such section for c (or no section of keys for it).
func (a *app) egressOptions(c jongler.Connector) ([]jongler.Option, error) {
	if !c.RequiresAPIKey || a.configFile() == "" {
		return nil, nil
	}
	f, err := a.iniFile(c.Name)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(f.Connectors(), func(s string) bool { return s == c.Name || slices.Contains(c.Aliases, s) }) {
		return nil, nil
	}
	cc, err := f.Connector(c.Name, c.Aliases...)
	if err != nil {
		return nil, configError(err)
	}
	table := cc.EgressTable()
	if table == nil {
		return nil, nil
	}
	return []jongler.Option{jongler.WithEgress(func(k jongler.Key) string { return table.Lookup(k.Name, k.Project) })}, nil
}
