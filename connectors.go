package jongler

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/api-jongler/jongler/internal/fsguard"
)

//go:embed connectors/*.json
var bundledConnectors embed.FS

// The bundled connectors' names, so that a typo fails at compile time.
// Each may also be called by its short alias, given in its doc.
const (
	// ConnectorGemini is Google's Gemini API, native and
	// OpenAI-compatible; alias "gemini".
	ConnectorGemini = "generativelanguage.googleapis.com"
	// ConnectorHuggingFace is Hugging Face's inference router; alias "hf".
	ConnectorHuggingFace = "router.huggingface.co"
	// ConnectorHuggingFaceInference is Hugging Face's retired Inference
	// API, kept for old configurations.
	ConnectorHuggingFaceInference = "api-inference.huggingface.co"
	// ConnectorHTTPBin is httpbin.org, which needs no key: for trying things.
	ConnectorHTTPBin = "httpbin.org"
	// ConnectorOpenAI is OpenAI's API; alias "openai".
	ConnectorOpenAI = "api.openai.com"
	// ConnectorAnthropic is Anthropic's API (key in x-api-key,
	// anthropic-version sent as the client set it); alias "anthropic".
	ConnectorAnthropic = "api.anthropic.com"
	// ConnectorGroq is Groq's API, OpenAI-compatible under /openai/v1;
	// alias "groq".
	ConnectorGroq = "api.groq.com"
	// ConnectorOpenRouter is OpenRouter, OpenAI-compatible under /api/v1;
	// alias "openrouter".
	ConnectorOpenRouter = "openrouter.ai"
	// ConnectorMistral is Mistral's API; alias "mistral".
	ConnectorMistral = "api.mistral.ai"
	// ConnectorCerebras is Cerebras' inference API, OpenAI-compatible
	// under /v1; alias "cerebras".
	ConnectorCerebras = "api.cerebras.ai"
)

// Connector describes an upstream API: where it is and how a key is sent.
// It is read from a JSON file; the first six fields are the original API
// Jongler's, the rest are this package's.
type Connector struct {
	// Name is how the connector is called: its section in the INI file,
	// its path prefix under serve; by convention its host.
	Name string `json:"name"`
	// Host and Port are where requests and keys go.
	Host string `json:"host"`
	Port int    `json:"port"`
	// Protocol is "https" or "http".
	Protocol string `json:"protocol"`
	// Format is the bodies' format: "json", the only one (or empty).
	Format string `json:"format"`
	// RequiresAPIKey says whether requests need a key: a connector
	// without one sends requests as they come, with no keys to rotate.
	RequiresAPIKey bool `json:"requires_api_key"`

	// APIKeyHeader is the header a key goes in when the client sent none,
	// such as "x-goog-api-key" or "Authorization".
	APIKeyHeader string `json:"api_key_header,omitempty"`
	// APIKeyPrefix goes before the key in that header, such as "Bearer ".
	APIKeyPrefix string `json:"api_key_prefix,omitempty"`
	// APIKeyQuery is the query parameter a key may travel in, such as
	// "key"; it is used when the client put its placeholder there.
	APIKeyQuery string `json:"api_key_query,omitempty"`
	// Policy names how answers are read: "gemini", "huggingface", or ""
	// for status codes alone. See [PolicyFor].
	Policy string `json:"policy,omitempty"`
	// Note is shown to people, for instance that an upstream is retired.
	Note string `json:"note,omitempty"`
	// Aliases are short names the connector may be called by wherever a
	// connector name is taken, such as "gemini".
	Aliases []string `json:"aliases,omitempty"`
	// OpenAIPath is the path prefix of the connector's OpenAI-compatible
	// API, such as "/v1beta/openai" for Gemini or "/openai/v1" for Groq:
	// chat completions are at OpenAIPath + "/chat/completions". A
	// connector without one cannot be a target of a route (package route).
	OpenAIPath string `json:"openai_path,omitempty"`
}

// BaseURL returns the connector's address, such as
// "https://generativelanguage.googleapis.com".
func (c Connector) BaseURL() string {
	u := url.URL{Scheme: c.Protocol, Host: c.Host}
	if c.Port != 0 && c.Port != defaultPort(c.Protocol) {
		u.Host = c.Host + ":" + strconv.Itoa(c.Port)
	}
	return u.String()
}

func defaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// validHost reports whether h is a host name (letters, digits, '-', '_'
// and dots) or an IP address, IPv6 in brackets: what a URL's host can be
// with nothing else, so that the connector's address is just that host.
func validHost(h string) bool {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		ip, err := netip.ParseAddr(h[1 : len(h)-1])
		return err == nil && ip.Is6() && ip.Zone() == ""
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range []byte(h) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (c *Connector) validate() error {
	switch {
	case c.Name == "":
		return errors.New(`field "name" is empty`)
	case !validHost(c.Host):
		return fmt.Errorf(`field "host": %q is not a host name or IP address (a port goes in "port")`, c.Host)
	case c.Protocol != "http" && c.Protocol != "https":
		return fmt.Errorf(`field "protocol": %q, want "http" or "https"`, c.Protocol)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf(`field "port": %d is out of range`, c.Port)
	case c.Format != "" && c.Format != "json":
		return fmt.Errorf(`field "format": %q, want "json"`, c.Format)
	}
	if c.Policy != "" && c.Policy != "gemini" && c.Policy != "huggingface" && !isHeaderPolicy(c.Policy) {
		return fmt.Errorf(`field "policy": %q, want one of %s or ""`, c.Policy, policyNames)
	}
	if err := c.validateKeySlots(); err != nil {
		return err
	}
	if err := validOpenAIPath(c.OpenAIPath); err != nil {
		return err
	}
	for _, a := range c.Aliases {
		if a == "" || strings.ContainsAny(a, "/ \t") {
			return fmt.Errorf(`field "aliases": %q is not a name`, a)
		}
	}
	if c.Port == 0 {
		c.Port = defaultPort(c.Protocol)
	}
	if c.RequiresAPIKey && c.APIKeyHeader == "" && c.APIKeyQuery == "" {
		if c.Name == ConnectorGemini || c.Name == "google" {
			// As the original sends Google's key: Google takes it there,
			// not as a Bearer token.
			c.APIKeyHeader, c.APIKeyQuery = "x-goog-api-key", "key"
		} else {
			c.APIKeyHeader, c.APIKeyPrefix = "Authorization", "Bearer "
		}
	}
	return nil
}

// validateKeySlots refuses a header name, prefix or query parameter that
// would not stay what it says once written into a request: a CR or LF in
// a header splits it into two, an '&' or '=' in a parameter's name makes
// other parameters of it.
func (c *Connector) validateKeySlots() error {
	if c.APIKeyHeader != "" && !validToken(c.APIKeyHeader) {
		return fmt.Errorf(`field "api_key_header": %q is not a header name (letters, digits and !#$%%&'*+-.^_`+"`"+`|~ only)`, c.APIKeyHeader)
	}
	if strings.ContainsFunc(c.APIKeyPrefix, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf(`field "api_key_prefix": %q holds a control character (CR, LF, tab...)`, c.APIKeyPrefix)
	}
	for _, b := range []byte(c.APIKeyQuery) {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~') {
			return fmt.Errorf(`field "api_key_query": %q is not a query parameter name (letters, digits, '-', '.', '_' and '~' only; no '&', '=', '#' or space)`, c.APIKeyQuery)
		}
	}
	return nil
}

// validOpenAIPath refuses an "openai_path" that is not a plain absolute
// path: requests are sent to it with "/chat/completions" after it.
func validOpenAIPath(p string) error {
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#%\\ \t\r\n") || strings.Contains(p, "//") ||
		slices.Contains(strings.Split(p, "/"), "..") || slices.Contains(strings.Split(p, "/"), ".") {
		return fmt.Errorf(`field "openai_path": %q is not a path such as "/v1" (a leading '/', no trailing '/', no '.', '..', '?', '#', '%%' or space)`, p)
	}
	return nil
}

// validToken reports whether s is an HTTP token (RFC 9110), what a header
// name is made of.
func validToken(s string) bool {
	for _, b := range []byte(s) {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return false
		}
	}
	return s != ""
}

// parseConnector decodes one connector file strictly: unknown fields and
// trailing data are errors, named with their line. The fields the
// original's own files hold for people (its Hugging Face file's
// default_model and available_models) are read and ignored, so that its
// files load unchanged.
func parseConnector(name string, data []byte) (Connector, error) {
	var f struct {
		Connector
		DefaultModel    string   `json:"default_model"`
		AvailableModels []string `json:"available_models"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&f)
	c := f.Connector
	if err != nil {
		return c, fmt.Errorf("jongler: connector file %s: %s", name, jsonErrorText(data, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, fmt.Errorf("jongler: connector file %s: data after the connector object", name)
	}
	if err := c.validate(); err != nil {
		return c, fmt.Errorf("jongler: connector file %s: %w", name, err)
	}
	return c, nil
}

// jsonErrorText describes a JSON decoding error with its line and column.
func jsonErrorText(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err.Error()
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}

// Connectors returns every connector by name (not by alias): the bundled
// ones, then those in dir (when dir is not ""), each file of which adds a
// connector or overrides a bundled one of the same name.
//
// A connector file decides where keys go, so dir and its files are guarded
// as the state directory is: dir (which may be a symbolic link) must be a
// directory, and each *.json file in it a regular file (not a symbolic
// link, FIFO or device), both owned by the user (or root) and writable by
// no one else, each file at most 1 MiB; anything else is refused with an
// error naming it. Files are opened without blocking.
func Connectors(dir string) (map[string]Connector, error) {
	out := map[string]Connector{}
	names, err := fs.Glob(bundledConnectors, "connectors/*.json")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		data, err := bundledConnectors.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("jongler: connector file: %w", err)
		}
		if err := addConnector(out, n, data); err != nil {
			return nil, err
		}
	}
	if dir != "" {
		if err := readConnectorDir(dir, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxConnectorFile bounds a connector file: the bundled ones are under
// 1 KiB.
const maxConnectorFile = 1 << 20

// readConnectorDir adds the connectors of the *.json files in dir to out,
// refusing dir or a file that is not the user's own (see Connectors).
func readConnectorDir(dir string, out map[string]Connector) error {
	if err := fsguard.Dir(dir, "connectors directory", true); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("jongler: connectors directory %s: %w", dir, err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := fsguard.ReadFile(path, "connector file", maxConnectorFile)
		if err != nil {
			return err
		}
		if err := addConnector(out, path, data); err != nil {
			return err
		}
	}
	return nil
}

// addConnector parses the connector file called name and adds it to out.
func addConnector(out map[string]Connector, name string, data []byte) error {
	c, err := parseConnector(name, data)
	if err != nil {
		return err
	}
	out[c.Name] = c
	return nil
}

// LookupConnector returns the connector called name, or aliased so, from
// the bundled ones and those in dir. A name wins over an alias. An unknown
// name gives an error listing the known ones.
func LookupConnector(name, dir string) (Connector, error) {
	all, err := Connectors(dir)
	if err != nil {
		return Connector{}, err
	}
	if c, ok := resolveConnector(all, name); ok {
		return c, nil
	}
	known := slices.Sorted(maps.Keys(all))
	return Connector{}, fmt.Errorf("jongler: unknown connector %q; known connectors: %s", name, strings.Join(known, ", "))
}

// resolveConnector finds name among all's names, then their aliases.
func resolveConnector(all map[string]Connector, name string) (Connector, bool) {
	if c, ok := all[name]; ok {
		return c, true
	}
	for _, n := range slices.Sorted(maps.Keys(all)) {
		if slices.Contains(all[n].Aliases, name) {
			return all[n], true
		}
	}
	return Connector{}, false
}

// canonicalName returns the bundled connector's name for name or its
// alias.
func canonicalName(name string) (string, error) {
	c, err := LookupConnector(name, "")
	return c.Name, err
}
