package keyfile

import (
	"net/url"
	"strings"

	"gopkg.in/ini.v1"
)

// BaseURLSetting is the line of a connector's section that is no key: the
// address its requests go to instead of the connector's own, such as a
// regional endpoint or a simulator on loopback:
//
//	[gemini]
//	base_url = http://127.0.0.1:8080
//	key1 = ...
//
// Its name is compared regardless of case, as key names are. Python's
// configparser, and so the original, would read the line as a key.
const BaseURLSetting = "base_url"

// isBaseURL reports whether the entry called name is the base_url setting.
func isBaseURL(name string) bool { return strings.EqualFold(name, BaseURLSetting) }

// validBaseURL reports whether v is an address requests may go to:
// http(s)://host[:port][/path], with no user, query or fragment.
func validBaseURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.User == nil && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.Opaque == ""
}

// baseURL returns the base_url of sec, "" if it has none, checked: given
// once, an address. A value that is no address may be a key named so by
// mistake, and is not shown. [DEFAULT] may not give one: it would be
// every connector's.
func (f *File) baseURL(sec *section) (string, error) {
	if def := f.section(ini.DefaultSection); def != nil {
		for _, e := range def.entries {
			if isBaseURL(e.name) {
				return "", f.errorf(e.line, "%s in [DEFAULT] would be every connector's address; move it into the section of its connector", BaseURLSetting)
			}
		}
	}
	for _, e := range sec.entries {
		if !isBaseURL(e.name) {
			continue
		}
		if e.count > 1 {
			return "", f.errorf(e.line, "%s is given %d times in [%s]", BaseURLSetting, e.count, sec.name)
		}
		if !validBaseURL(e.value) {
			return "", f.errorf(e.line, "%s in [%s]: want http(s)://host[:port][/path], without user, query or fragment (the value is not shown: it may be a key)", BaseURLSetting, sec.name)
		}
		return strings.TrimSuffix(e.value, "/"), nil
	}
	return "", nil
}
