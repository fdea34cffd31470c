package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestImage builds apijongler for linux (static), the image, and its OCI
// tar; then reads the tar back as an OCI layout and checks the config
// (entrypoint serve, 0.0.0.0:8787, a non-root user, the state directory a
// volume, port 8787, the /healthz probe) and the layer's files.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds apijongler and an image: the full run only (.ci/run)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "apijongler")
	gobuild := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=v0.0.0-image-test", "-o", bin, "../../apijongler")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	certs := "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(certs); err != nil {
		t.Fatalf("%v: install the ca-certificates package", err)
	}
	img, err := build(options{binary: bin, certs: certs, version: "v0.0.0-image-test"})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "apijongler.oci.tar")
	if err := writeOCITar(img, "v0.0.0-image-test", archive); err != nil {
		t.Fatal(err)
	}

	// Read it back from the tar, as a loader would.
	oci := filepath.Join(dir, "oci")
	untar(t, archive, oci)
	idx, err := layout.ImageIndexFromPath(oci)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("index: %v, %+v: want one image", err, m)
	}
	if n := m.Manifests[0].Annotations["io.containerd.image.name"]; n != "docker.io/library/apijongler:v0.0.0-image-test" {
		t.Errorf("the image is named %q in the index", n)
	}
	got, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	switch {
	case !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/apijongler", "serve"}):
		t.Errorf("entrypoint %q", c.Entrypoint)
	case c.User != "65532:65532":
		t.Errorf("user %q, want the non-root 65532", c.User)
	case !slices.Contains(c.Env, "APIJONGLER_LISTEN=0.0.0.0:8787") || !slices.Contains(c.Env, "APIJONGLER_STATE_DIR=/var/lib/apijongler"):
		t.Errorf("env %q", c.Env)
	case len(c.ExposedPorts) != 1 || !has(c.ExposedPorts, "8787/tcp"):
		t.Errorf("exposed ports %v", c.ExposedPorts)
	case len(c.Volumes) != 1 || !has(c.Volumes, "/var/lib/apijongler"):
		t.Errorf("volumes %v", c.Volumes)
	case c.Labels[HealthLabel] != "GET http://127.0.0.1:8787/healthz" || c.Healthcheck == nil || !slices.Contains(c.Healthcheck.Test, "/healthz"):
		t.Errorf("health probe: label %q, healthcheck %+v", c.Labels[HealthLabel], c.Healthcheck)
	case c.Labels["org.opencontainers.image.version"] != "v0.0.0-image-test":
		t.Errorf("labels %v", c.Labels)
	case cf.OS != "linux" || cf.Architecture == "":
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}

	layers, err := got.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %d: want one", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	contents := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		if h.Name == "etc/passwd" {
			b, _ := io.ReadAll(tr)
			contents[h.Name] = string(b)
		}
	}
	for name, mode := range map[string]int64{
		"usr/local/bin/apijongler":          0o755,
		"etc/ssl/certs/ca-certificates.crt": 0o644,
		"etc/passwd":                        0o644,
		"var/lib/apijongler/":               0o700,
	} {
		h := files[name]
		if h == nil || h.Mode != mode {
			t.Errorf("layer: %s: %+v, want mode %o", name, h, mode)
		}
	}
	if h := files["var/lib/apijongler/"]; h != nil && h.Uid != 65532 {
		t.Errorf("the state directory belongs to %d, want 65532", h.Uid)
	}
	if !strings.Contains(contents["etc/passwd"], "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd:\n%s", contents["etc/passwd"])
	}
	// The binary in the image names the version.
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "apijongler v0.0.0-image-test ") {
		t.Errorf("apijongler version: %v %q", err, out)
	}
}

func has(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

// untar extracts the tar file at path into dir.
func untar(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(dst, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
