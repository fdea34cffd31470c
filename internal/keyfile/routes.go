package keyfile

import (
	"strings"
	"time"
)

// RoutesSection is the INI file's section of routes, beside the sections
// of keys; no connector is called so. Its lines are
//
//	NAME = CONNECTOR/MODEL, CONNECTOR/MODEL, ...
//	NAME.max_wait = 10s
//
// the targets of route NAME in order of preference, and how long a
// request for it may wait for a target when all are spent. Its values
// name connectors and models, not keys: they are shown in messages and
// logs, and are not among [File.Secrets].
const RoutesSection = "routes"

// maxWaitSuffix ends the name of a route's wait setting.
const maxWaitSuffix = ".max_wait"

// RouteTarget is one target of a route: a connector, by its name as
// resolved, and the model as that provider names it.
type RouteTarget struct {
	Connector, Model string
}

// String returns "CONNECTOR/MODEL".
func (t RouteTarget) String() string { return t.Connector + "/" + t.Model }

// Route is a line of the [routes] section.
type Route struct {
	Name    string
	Targets []RouteTarget
	MaxWait time.Duration // 0: not set
	Line    int
}

// ValidRouteName reports whether name may name a route: not empty, no
// '/' (a pinned target's mark), no space, comma or control character.
func ValidRouteName(name string) bool {
	return name != "" && !strings.ContainsFunc(name, func(r rune) bool {
		return r == '/' || r == ',' || r <= ' ' || r == 0x7f
	})
}

// Routes reads the [routes] section, in file order; nil if there is none.
// resolve returns the name of a connector that can be a target (given by
// name or alias), or an error saying why it cannot (unknown, no OpenAI
// path). Each error is one line naming the file, the line, the route and
// the target.
func (f *File) Routes(resolve func(connector string) (string, error)) ([]Route, error) {
	sec := f.section(RoutesSection)
	if sec == nil {
		return nil, nil
	}
	var out []Route
	index := map[string]int{}
	waits := map[string]Setting{}
	for _, e := range sec.entries {
		if e.count > 1 {
			return nil, f.errorf(e.line, "[%s] %s is given %d times", RoutesSection, quoteShort(e.name, "name"), e.count)
		}
		if name, ok := strings.CutSuffix(e.name, maxWaitSuffix); ok {
			waits[name] = Setting{Name: name, Value: e.value, Line: e.line}
			continue
		}
		r, err := f.route(e, resolve)
		if err != nil {
			return nil, err
		}
		if _, dup := index[strings.ToLower(r.Name)]; dup {
			return nil, f.errorf(e.line, "[%s] route %q is given twice", RoutesSection, r.Name)
		}
		index[strings.ToLower(r.Name)] = len(out)
		out = append(out, r)
	}
	for name, w := range waits {
		i, ok := index[strings.ToLower(name)]
		if !ok {
			return nil, f.errorf(w.Line, "[%s] %s: no route %s in the section", RoutesSection, quoteShort(name+maxWaitSuffix, "name"), quoteShort(name, "name"))
		}
		d, err := time.ParseDuration(w.Value)
		if err != nil || d < 0 {
			return nil, f.errorf(w.Line, "[%s] route %q: max_wait: want a duration such as 10s or 2m, 0 or more", RoutesSection, out[i].Name)
		}
		out[i].MaxWait = d
	}
	return out, nil
}

// route reads one route's line.
func (f *File) route(e entry, resolve func(string) (string, error)) (Route, error) {
	r := Route{Name: e.name, Line: e.line}
	if !ValidRouteName(e.name) {
		return r, f.errorf(e.line, "[%s] %s is not a route name (no '/', ',' or space)", RoutesSection, quoteShort(e.name, "name"))
	}
	for i, part := range strings.Split(e.value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		conn, model, ok := strings.Cut(part, "/")
		conn, model = strings.TrimSpace(conn), strings.TrimSpace(model)
		if !ok || conn == "" || model == "" {
			return r, f.errorf(e.line, "[%s] route %q, target %d (%s): want CONNECTOR/MODEL, such as gemini/gemini-2.5-flash", RoutesSection, r.Name, i+1, quoteShort(part, "text"))
		}
		name, err := resolve(conn)
		if err != nil {
			return r, f.errorf(e.line, "[%s] route %q, target %q: %v", RoutesSection, r.Name, part, err)
		}
		t := RouteTarget{Connector: name, Model: model}
		for _, o := range r.Targets {
			if o == t {
				return r, f.errorf(e.line, "[%s] route %q, target %q is given twice", RoutesSection, r.Name, part)
			}
		}
		r.Targets = append(r.Targets, t)
	}
	if len(r.Targets) == 0 {
		return r, f.errorf(e.line, "[%s] route %q has no targets; write CONNECTOR/MODEL, CONNECTOR/MODEL, ...", RoutesSection, r.Name)
	}
	return r, nil
}
