package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/proxy"
)

// The admin API of serve: the dashboard's data, and one POST endpoint an
// action, each taking and answering JSON, behind the tokens.
const (
	adminData    = "/admin/dashboard"
	adminReset   = "/admin/keys/reset"
	adminDisable = "/admin/keys/disable"
	adminEnable  = "/admin/keys/enable"
	// adminMaxBody bounds an action's JSON body.
	adminMaxBody = 4 << 10
	// maxDisable bounds a disable's duration: a key is not lost for good
	// by a typo.
	maxDisable = 30 * 24 * time.Hour
)

// adminHelp is what `serve --help` says of the dashboard and its API.
const adminHelp = `
GET /ui/ is the dashboard, a page in the binary: each connector's keys,
their states and countdowns, the last hour's requests and 429s; give it a
token. Its API, for scripts too (Authorization: Bearer TOKEN; 401 without):
GET ` + adminData + ` (the page's data, JSON), and POST with a JSON body
{"connector":"gemini","key":"NAME"} ` + adminReset + ` (clear its cooldown or
refusal), ` + adminDisable + ` (add "for":"30m": not leased meanwhile, in every
process sharing the store), ` + adminEnable + ` (end a disable; as reset).`

// keyAction is the body of an action's request.
type keyAction struct {
	Connector string `json:"connector"`
	Key       string `json:"key"`
	// For is how long a disable lasts, as Go writes durations ("90s", "2h").
	For string `json:"for,omitempty"`
}

// actionResult is the answer to an action: the key's state after it.
type actionResult struct {
	Action    string           `json:"action"`
	Connector string           `json:"connector"`
	Key       string           `json:"key"`
	State     jongler.KeyState `json:"state"`
	Until     time.Time        `json:"until,omitzero"`
}

// dashData is the answer of GET /admin/dashboard.
type dashData struct {
	Now        time.Time       `json:"now"`
	Connectors []dashConnector `json:"connectors"`
	// Routes lists the routes and the target each would use now; empty
	// while serve has none.
	Routes []dashRoute `json:"routes"`
	// Clients lists serve's clients by name (never a token) and their
	// counts, as /status/clients; empty without tokens.
	Clients []proxy.ClientStatus `json:"clients"`
}

// dashConnector is one connector's part of the dashboard.
type dashConnector struct {
	Name string      `json:"name"`
	Keys []keyStatus `json:"keys"`
	// Quotas lists the quotas learned for its keys' projects, once each.
	Quotas []dashQuota `json:"quotas"`
	// Budgets lists what is used of each budget (configured or learned) in
	// the current minute and day.
	Budgets []dashBudget `json:"budgets"`
	// Hour sums the last hour's Minutes, the oldest first.
	Hour    trafficCounts   `json:"hour"`
	Minutes []trafficCounts `json:"minutes"`
}

// dashQuota is a quota learned from the upstream's refusals.
type dashQuota struct {
	Project string `json:"project,omitempty"`
	learnedStatus
}

// dashBudget is a project's budget for a model and its use now.
type dashBudget struct {
	Project   string `json:"project,omitempty"`
	Model     string `json:"model"`
	PerMinute int    `json:"per_minute,omitempty"`
	PerDay    int    `json:"per_day,omitempty"`
	Minute    int    `json:"used_minute"`
	Day       int    `json:"used_day"`
}

// dashRoute is a route and the target it would use now.
type dashRoute struct {
	Name   string `json:"name"`
	Target string `json:"target"` // "": none has headroom now
}

// dashboard serves the admin API and the page, for the transports cur
// returns (they change on SIGHUP).
type dashboard struct {
	a       *app
	log     *slog.Logger
	cur     func() *served
	traffic *traffic
}

// mountDashboard adds the page (GET /ui/) and the admin API to mux.
func (a *app) mountDashboard(mux *http.ServeMux, log *slog.Logger, cur func() *served, tr *traffic) {
	d := &dashboard{a: a, log: log, cur: cur, traffic: tr}
	mux.Handle("GET "+adminData, d.guard(http.HandlerFunc(d.data)))
	mux.Handle("POST "+adminReset, d.guard(d.action("reset")))
	mux.Handle("POST "+adminDisable, d.guard(d.action("disable")))
	mux.Handle("POST "+adminEnable, d.guard(d.action("enable")))
	mountUI(mux)
}

// guard answers 401 in JSON to a request without a token, and writes every
// answer with no key value or token in it.
func (d *dashboard) guard(h http.Handler) http.Handler {
	inner := d.a.scrubbed(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		adminHeaders(w.Header())
		if _, ok := d.cur().h.ClientName(r); !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="apijongler"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong token: send Authorization: Bearer TOKEN"})
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// adminHeaders are the headers of every admin answer: never cached,
// never framed, never sniffed.
func adminHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// data answers the dashboard's data.
func (d *dashboard) data(w http.ResponseWriter, r *http.Request) {
	cur := d.cur()
	ts := cur.transports
	rows, err := statusRows(r.Context(), ts)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "the key states cannot be read (state directory or store)"})
		return
	}
	d.traffic.update(r.Context())
	out := dashData{Now: time.Now().UTC(), Connectors: []dashConnector{}, Routes: []dashRoute{}}
	for _, t := range ts {
		name := t.Connector().Name
		c := dashConnector{Name: name, Keys: []keyStatus{}, Quotas: []dashQuota{}}
		var projects []string
		for _, k := range rows {
			if k.Connector != name {
				continue
			}
			c.Keys = append(c.Keys, k)
			if slices.Contains(projects, k.Project) {
				continue
			}
			projects = append(projects, k.Project)
			for _, l := range k.Learned {
				c.Quotas = append(c.Quotas, dashQuota{Project: k.Project, learnedStatus: l})
			}
		}
		c.Budgets = []dashBudget{}
		if ks, err := t.KeyStates(r.Context()); err == nil {
			for _, u := range ks.Budgets {
				c.Budgets = append(c.Budgets, dashBudget(u))
			}
		}
		c.Minutes, c.Hour = d.traffic.hour(name)
		out.Connectors = append(out.Connectors, c)
	}
	out.Clients = cur.h.Clients()
	if out.Clients == nil {
		out.Clients = []proxy.ClientStatus{}
	}
	if rh := cur.routes; rh != nil {
		for _, name := range rh.Names() {
			dr := dashRoute{Name: name}
			if t, ok := rh.Next(r.Context(), name); ok {
				dr.Target = t.String()
			}
			out.Routes = append(out.Routes, dr)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// action returns the handler of one action on a key.
func (d *dashboard) action(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, format string, args ...any) {
			writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
		}
		if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), "application/json") {
			fail(http.StatusUnsupportedMediaType, "%s: want Content-Type: application/json", r.URL.Path)
			return
		}
		var in keyAction
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, adminMaxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				fail(http.StatusRequestEntityTooLarge, "%s: body over %d bytes", r.URL.Path, adminMaxBody)
				return
			}
			fail(http.StatusBadRequest, "%s: body is not the JSON object {\"connector\":...,\"key\":...}: %s", r.URL.Path, jsonProblem(err))
			return
		}
		if in.Connector == "" || in.Key == "" {
			fail(http.StatusBadRequest, "%s: give \"connector\" and \"key\"", r.URL.Path)
			return
		}
		var hold time.Duration
		switch {
		case name == "disable":
			var err error
			if hold, err = time.ParseDuration(in.For); err != nil || hold <= 0 || hold > maxDisable {
				fail(http.StatusBadRequest, "%s: \"for\" %q: want a duration such as \"30m\" or \"2h\", above 0 and at most %s", r.URL.Path, in.For, maxDisable)
				return
			}
		case in.For != "":
			fail(http.StatusBadRequest, "%s: \"for\" is for %s only", r.URL.Path, adminDisable)
			return
		}
		t := d.transport(in.Connector)
		if t == nil {
			fail(http.StatusNotFound, "no served connector %q", in.Connector)
			return
		}
		if !slices.Contains(t.KeyNames(), in.Key) {
			fail(http.StatusNotFound, "%s has no key named %q", t.Connector().Name, in.Key)
			return
		}
		client, _ := d.cur().h.ClientName(r)
		var err error
		if name == "disable" {
			err = t.HoldKey(r.Context(), in.Key, hold, "disabled for maintenance by "+client)
		} else {
			err = t.ResetKey(r.Context(), in.Key)
		}
		if err != nil {
			d.log.Warn("admin action failed", "action", name, "connector", t.Connector().Name, "key", in.Key, "client_name", client, "err", err)
			fail(http.StatusInternalServerError, "%s of %s/%s failed: the store cannot be written", name, t.Connector().Name, in.Key)
			return
		}
		attrs := []any{"action", name, "connector", t.Connector().Name, "key", in.Key, "client_name", client}
		if name == "disable" {
			attrs = append(attrs, "for", hold.String())
		}
		d.log.Info("admin", attrs...)
		res := actionResult{Action: name, Connector: t.Connector().Name, Key: in.Key}
		if ks, err := t.KeyStates(r.Context()); err == nil {
			res.State, res.Until = ks.Keys[in.Key].State, ks.Keys[in.Key].Until.UTC()
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// jsonProblem says what is wrong with a JSON body, without echoing it.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q wants a %s", te.Field, te.Type)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "cut short"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "cannot be read"
}

// transport returns the served transport of the connector called name (or
// one of its aliases), or nil.
func (d *dashboard) transport(name string) *jongler.Transport {
	for _, t := range d.cur().transports {
		c := t.Connector()
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return t
		}
	}
	return nil
}
