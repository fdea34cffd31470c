package docs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit checks docs/apijongler.service: it reads as a unit
// (sections, key=value lines), runs serve as a dynamic user with a state
// directory, gets the keys and tokens as credentials, never on its command
// line, and, where systemd-analyze is installed, verifies without a word.
func TestSystemdUnit(t *testing.T) {
	path := filepath.Join("apijongler.service")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{} // "Section.Key" to values
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) != k {
				t.Fatalf("%s:%d: not a key=value line of a section: %q", path, i+1, line)
			}
			settings[section+"."+k] = append(settings[section+"."+k], v)
		}
	}
	for key, want := range map[string]string{
		"Service.DynamicUser":      "yes",
		"Service.StateDirectory":   "apijongler",
		"Service.NoNewPrivileges":  "yes",
		"Service.ProtectSystem":    "strict",
		"Service.LoadCredential":   "keys.ini:/etc/apijongler/APIJongler.ini",
		"Install.WantedBy":         "multi-user.target",
		"Service.ExecReload":       "/bin/kill -HUP $MAINPID",
		"Service.RestrictSUIDSGID": "yes",
	} {
		if !strings.Contains(strings.Join(settings[key], "\n"), want) {
			t.Errorf("%s: %s=%s missing (has %q)", path, key, want, settings[key])
		}
	}
	exec1 := strings.Join(settings["Service.ExecStart"], "")
	for _, want := range []string{" serve ", "--config ${CREDENTIALS_DIRECTORY}/", "--token-file ${CREDENTIALS_DIRECTORY}/", "--listen 0.0.0.0:8787"} {
		if !strings.Contains(exec1, want) {
			t.Errorf("%s: ExecStart %q lacks %q", path, exec1, want)
		}
	}
	if strings.Contains(exec1, "--token ") || strings.Contains(exec1, "--token=") || strings.Contains(exec1, "--store ") {
		t.Errorf("%s: ExecStart %q puts a secret on the command line", path, exec1)
	}
	if settings["Service.Environment"] != nil && strings.Contains(strings.Join(settings["Service.Environment"], " "), "APIJONGLER_KEYS_") {
		t.Errorf("%s: keys in the environment", path)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit's syntax only is checked")
		return
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "apijongler")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(data), "/usr/local/bin/apijongler", bin)
	if err := os.WriteFile(filepath.Join(dir, "apijongler.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, "apijongler.service"))
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestComposeFile checks docs/docker-compose.yml against the image: the
// health probe is the image's own, the state directory a volume, secrets
// in files, never in the environment.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{
		`test: ["CMD", "/usr/local/bin/apijongler", "--base-url", "http://127.0.0.1:8787", "--timeout", "5s", "httpbin.org", "GET", "/healthz"]`,
		"- state:/var/lib/apijongler",
		`"8787:8787"`,
		"APIJONGLER_STORE: redis://redis:6379/0",
		`command: ["--token-file", "/run/secrets/tokens"]`,
		"APIJONGLER_CONFIG: /run/secrets/keys.ini",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("docker-compose.yml lacks %s", want)
		}
	}
	for i, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "\t") {
			t.Errorf("docker-compose.yml:%d: a tab (YAML takes spaces)", i+1)
		}
		if strings.Contains(line, "APIJONGLER_KEYS_") || strings.Contains(line, "APIJONGLER_TOKENS") {
			t.Errorf("docker-compose.yml:%d: a secret in the environment", i+1)
		}
	}
	for _, v := range []string{"APIJONGLER_CONFIG", "APIJONGLER_STORE"} {
		if !inSources(`"` + v + `"`) {
			t.Errorf("docker-compose.yml: %s is no variable of the code", v)
		}
	}
}
