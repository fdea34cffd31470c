package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/cmd/internal/serving"
	"github.com/api-jongler/jongler/internal/keyfile"
	"github.com/api-jongler/jongler/route"
)

// routesHelp is what `serve --help` says of routes.
const routesHelp = `
Routes: POST /v1/chat/completions and /v1/embeddings, and GET /v1/models,
answer OpenAI's API over every served connector with an OpenAI-compatible
path. The body's "model" is a route of the INI file's [routes] section
(fast = gemini/gemini-2.5-flash, groq/llama-3.3-70b-versatile), or a pinned
CONNECTOR/MODEL; the request goes to the first target with headroom now, and
X-Apijongler-Target names the one that served it. A model that is neither
goes to the connector served at /, if any.`

// buildRoutes returns the routes handler of the configuration: the INI
// file's [routes] over the transports, the proxy h behind it for what is
// no route's. Errors name the file, the line, the route and the target.
func (a *app) buildRoutes(transports []*jongler.Transport, h http.Handler, sc serving.Config) (*route.Handler, error) {
	var routes []route.Route
	if a.configFile() != "" {
		f, err := a.iniFile(jongler.ConnectorGemini)
		if err != nil {
			return nil, err
		}
		krs, err := f.Routes(routableConnector)
		if err != nil {
			return nil, configError(err)
		}
		for _, kr := range krs {
			r := route.Route{Name: kr.Name, MaxWait: kr.MaxWait}
			for _, t := range kr.Targets {
				r.Targets = append(r.Targets, route.Target{Connector: t.Connector, Model: t.Model})
			}
			routes = append(routes, r)
		}
	}
	rh, err := route.New(transports, routes, route.WithFallback(h), route.WithAccessLog(sc.Access),
		route.WithMeterProvider(sc.Meters), route.WithMaxBodyBytes(sc.MaxBody))
	if err != nil {
		return nil, configError(fmt.Errorf("config file %s: [%s] %s", a.configFile(), keyfile.RoutesSection, strings.TrimPrefix(err.Error(), "route: ")))
	}
	return rh, nil
}

// routableConnector resolves a connector named in [routes]: its name, if
// it has an OpenAI-compatible path.
func routableConnector(name string) (string, error) {
	c, err := jongler.LookupConnector(name, connectorsDir())
	if err != nil {
		return "", fmt.Errorf("unknown connector %q", name)
	}
	if c.OpenAIPath == "" {
		return "", fmt.Errorf(`connector %s has no "openai_path": it cannot be a route's target`, c.Name)
	}
	return c.Name, nil
}

// mountRoutes serves the routes of the current configuration at their
// paths on mux, behind the tokens; what is no route's goes to the proxy.
func mountRoutes(mux *http.ServeMux, cur func() *served) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := cur()
		s.h.Admit(s.routes).ServeHTTP(w, r) // the clients' tokens and limits
	})
	mux.Handle("POST /v1/chat/completions", h)
	mux.Handle("POST /v1/embeddings", h)
	mux.Handle("GET /v1/models", h)
}
