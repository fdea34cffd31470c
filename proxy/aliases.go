package proxy

import "github.com/api-jongler/jongler"

// aliasesOf returns the short names the connector is also served under.
// TODO(merge): take them from the connector's "aliases" once main has them
// (jongler.LookupConnector resolves them); until then the bundled ones.
func aliasesOf(c jongler.Connector) []string {
	switch c.Name {
	case "generativelanguage.googleapis.com":
		return []string{"gemini"}
	case "router.huggingface.co":
		return []string{"hf"}
	}
	return nil
}
