package jongler_test

import (
	"bytes"
	"encoding"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/api-jongler/jongler"
)

// TestKeyPrintsNameOnly prints, marshals and logs a Key and a Config in
// every way the standard library offers and looks for the value.
func TestKeyPrintsNameOnly(t *testing.T) {
	const secret = "AIzaPRINTCHECK-0123456789abcdef"
	k := jongler.Key{Name: "k1", Value: secret, Project: "p1"}
	cfg := jongler.Config{Keys: []jongler.Key{k, {Name: "k2", Value: secret + "-2", Project: "k2"}},
		Budgets: []jongler.Budget{{Model: "*", PerMinute: 5}}}
	type holder struct {
		Key  jongler.Key
		Keys []jongler.Key
		Ptr  *jongler.Key
		Cfg  jongler.Config
	}
	h := holder{Key: k, Keys: cfg.Keys, Ptr: &k, Cfg: cfg}
	values := map[string]any{"Key": k, "*Key": &k, "[]Key": cfg.Keys, "Config": cfg, "*Config": &cfg, "struct": h,
		"map": map[string]jongler.Key{"a": k}, "mapKey": map[jongler.Key]int{k: 1}}

	var outs []string
	add := func(what string, s string) {
		outs = append(outs, what+": "+s)
		if !strings.Contains(s, "k1") {
			t.Errorf("%s: %q does not name the key", what, s)
		}
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%10.3v", "%-8s", "%T %v", "%5.2q", "%+q", "%#q", "%#x", "% x", "%U", "%e", "%t"} {
			add(name+" "+verb, fmt.Sprintf(verb, v, v))
		}
		add(name+" Sprint", fmt.Sprint(v))
		add(name+" Sprintln", fmt.Sprintln(v))
		data, err := json.Marshal(v)
		if err != nil {
			t.Errorf("json.Marshal(%s): %v", name, err)
		}
		add(name+" json", string(data))
		data, _ = json.MarshalIndent(v, "", " ")
		add(name+" json indent", string(data))
		if data, err := xml.Marshal(v); err == nil { // maps have no XML form
			add(name+" xml", string(data))
		}
		var buf bytes.Buffer
		for hname, hdl := range map[string]slog.Handler{
			"json": slog.NewJSONHandler(&buf, nil),
			"text": slog.NewTextHandler(&buf, nil),
		} {
			buf.Reset()
			l := slog.New(hdl)
			l.Info("msg", "v", v)
			l.Info("msg", slog.Any("v", v))
			l.Info("msg", slog.Group("g", "v", v))
			l.With("v", v).Info("msg")
			l.Info(fmt.Sprint(v))
			add(name+" slog "+hname, buf.String())
		}
	}
	if tm, ok := any(k).(encoding.TextMarshaler); !ok {
		t.Error("Key is no encoding.TextMarshaler")
	} else if text, err := tm.MarshalText(); err != nil || string(text) != "k1" {
		t.Errorf("MarshalText = %q, %v; want k1", text, err)
	}
	// %p is left out: fmt reports a %p on a non-pointer without asking the
	// value's methods, printing its fields (see Key's doc).
	if got := fmt.Sprintf("%p", &k); !strings.HasPrefix(got, "0x") {
		t.Errorf("%%p of *Key = %q", got)
	}
	verbs := "%s|%q|%v|%d|%5s|%-4v|" // a variable: vet would refuse %d for a Key
	if got := fmt.Sprintf(verbs, k, k, k, k, k, k); got != `k1|"k1"|k1|k1|   k1|k1  |` {
		t.Errorf("verbs give %q", got)
	}
	for _, o := range outs {
		if strings.Contains(o, secret) || strings.Contains(o, fmt.Sprintf("%x", secret)) || strings.Contains(o, fmt.Sprintf("%X", secret)) ||
			strings.Contains(o, fmt.Sprint([]byte(secret))) {
			t.Errorf("shows the value: %s", o)
		}
	}
}
