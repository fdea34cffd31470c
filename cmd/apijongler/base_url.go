package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/api-jongler/jongler"
)

// baseURLFlagUsage is the help of serve's --base-url.
const baseURLFlagUsage = "send CONNECTOR's requests to `[CONNECTOR=]URL` (http(s)://host[:port][/path]) instead of its own address, such as a regional endpoint or a simulator; a bare URL when one connector is served; repeatable (also base_url in the connector's INI section)"

// addBaseURLFlag adds serve's --base-url to cmd, into to.
func addBaseURLFlag(cmd *cobra.Command, to *[]string) {
	cmd.Flags().StringArrayVar(to, "base-url", nil, baseURLFlagUsage)
}

// fileBaseURL returns the base_url of c's section in the INI file, "" if
// there is no file, no section or no such line.
func (a *app) fileBaseURL(c jongler.Connector) (string, error) {
	if a.configFile() == "" || !c.RequiresAPIKey {
		return "", nil
	}
	f, err := a.iniFile(c.Name)
	if err != nil {
		return "", err
	}
	names := append([]string{c.Name}, c.Aliases...)
	if !slices.ContainsFunc(f.Connectors(), func(s string) bool { return slices.Contains(names, s) }) {
		return "", nil
	}
	cc, err := f.Connector(c.Name, c.Aliases...)
	if err != nil {
		return "", configError(err)
	}
	return cc.BaseURL, nil
}

// serveBaseURLs returns, by connector name, where serve sends the
// requests of each of served that does not go to its own address: a
// --base-url CONNECTOR=URL, a bare --base-url URL when one connector is
// served, else the base_url of its INI section.
func (a *app) serveBaseURLs(flags []string, served []jongler.Connector) (map[string]string, error) {
	out := map[string]string{}
	for _, c := range served {
		u, err := a.fileBaseURL(c)
		if err != nil {
			return nil, err
		}
		if u != "" {
			out[c.Name] = u
		}
	}
	given := map[string]bool{}
	for _, v := range flags {
		name, u, ok := strings.Cut(v, "=")
		var c jongler.Connector
		switch {
		case !ok || strings.ContainsAny(name, ":/"): // a bare URL
			if len(served) != 1 {
				return nil, usageErrorf("--base-url %s: %d connectors are served; say which with --base-url CONNECTOR=URL", v, len(served))
			}
			c, u = served[0], v
		default:
			var err error
			if c, err = lookupConnector(name); err != nil {
				return nil, usageErrorf("--base-url %s: %s", v, message(err))
			}
			if !slices.ContainsFunc(served, func(s jongler.Connector) bool { return s.Name == c.Name }) {
				return nil, usageErrorf("--base-url %s: %s is not served", v, c.Name)
			}
		}
		if given[c.Name] {
			return nil, usageErrorf("--base-url: %s is given two addresses", c.Name)
		}
		given[c.Name] = true
		out[c.Name] = strings.TrimSuffix(u, "/")
	}
	return out, nil
}
