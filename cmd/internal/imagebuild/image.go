// Command imagebuild builds apijongler's container image without a Docker
// daemon and without pulling a base image: onto an empty image, one layer
// holding the static binary, the system's CA certificates and an
// /etc/passwd naming a non-root user, and a config that runs
// `apijongler serve` on 0.0.0.0:8787 as that user, its state directory a
// volume. It writes an OCI image layout as a tar file (docker load,
// podman load, skopeo copy oci-archive:...).
//
//	CGO_ENABLED=0 go build -trimpath -o apijongler ./cmd/apijongler
//	go run ./cmd/internal/imagebuild -binary apijongler -version v1.2.0 -o apijongler.oci.tar
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's layout and settings.
const (
	binPath  = "/usr/local/bin/apijongler"
	certPath = "/etc/ssl/certs/ca-certificates.crt"
	stateDir = "/var/lib/apijongler"
	uid      = 65532 // "nonroot", as distroless names it
	listen   = "0.0.0.0:8787"
	// HealthLabel names the probe: OCI configs have no healthcheck, so
	// the image says it in a label, and sets Docker's Healthcheck too.
	HealthLabel = "io.apijongler.healthcheck"
)

// options are what an image is built from.
type options struct {
	binary, certs, version string
}

func main() {
	var o options
	var out string
	flag.StringVar(&o.binary, "binary", "", "the static apijongler binary (CGO_ENABLED=0) for the image's platform")
	flag.StringVar(&o.certs, "certs", "/etc/ssl/certs/ca-certificates.crt", "the CA certificates bundle to copy into the image")
	flag.StringVar(&o.version, "version", "", "the version, for the image's labels")
	flag.StringVar(&out, "o", "apijongler.oci.tar", "write the OCI layout tar `FILE`")
	flag.Parse()
	if o.binary == "" || o.version == "" {
		fmt.Fprintln(os.Stderr, "imagebuild: -binary and -version are required")
		os.Exit(2)
	}
	img, err := build(o)
	if err == nil {
		err = writeOCITar(img, o.version, out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

// build returns the image.
func build(o options) (v1.Image, error) {
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, fmt.Errorf("-binary: %w", err)
	}
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		return nil, fmt.Errorf("-binary %s: not a Linux (ELF) executable", o.binary)
	}
	certs, err := os.ReadFile(o.certs)
	if err != nil {
		return nil, fmt.Errorf("-certs: %w (install the ca-certificates package)", err)
	}
	data, err := layerTar(bin, certs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer: layer, History: v1.History{CreatedBy: "imagebuild: apijongler " + o.version, Created: v1.Time{Time: time.Unix(0, 0).UTC()}},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch(bin)
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint:   []string{binPath, "serve"},
		Env:          []string{"APIJONGLER_LISTEN=" + listen, "APIJONGLER_STATE_DIR=" + stateDir, "SSL_CERT_FILE=" + certPath},
		User:         fmt.Sprintf("%d:%d", uid, uid),
		WorkingDir:   stateDir,
		ExposedPorts: map[string]struct{}{"8787/tcp": {}},
		Volumes:      map[string]struct{}{stateDir: {}},
		StopSignal:   "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":   "apijongler",
			"org.opencontainers.image.version": o.version,
			"org.opencontainers.image.source":  "https://github.com/api-jongler/jongler",
			HealthLabel:                        "GET http://127.0.0.1:8787/healthz",
		},
		// Docker's own field (the OCI config has none): the binary
		// probes /healthz itself, as the image has no shell nor curl.
		Healthcheck: &v1.HealthConfig{
			Test:     []string{"CMD", binPath, "--base-url", "http://127.0.0.1:8787", "--timeout", "5s", "httpbin.org", "GET", "/healthz"},
			Interval: 30 * time.Second, Timeout: 10 * time.Second, Retries: 3,
		},
	}
	return mutate.ConfigFile(img, cf)
}

// arch returns the GOARCH of the ELF binary bin.
func arch(bin []byte) string {
	if len(bin) > 20 && bin[18] == 0xb7 { // e_machine EM_AARCH64
		return "arm64"
	}
	return "amd64"
}

// layerTar returns the layer: the binary, the certificates, /etc/passwd
// and /etc/group for the user, its state directory and /tmp.
func layerTar(bin, certs []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dir := func(name string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: epoch})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, uid, stateDir)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid)
	err := errors.Join(
		dir("etc", 0o755, 0), dir("etc/ssl", 0o755, 0), dir("etc/ssl/certs", 0o755, 0),
		file("etc/passwd", 0o644, []byte(passwd)), file("etc/group", 0o644, []byte(group)),
		file(certPath[1:], 0o644, certs),
		dir("usr", 0o755, 0), dir("usr/local", 0o755, 0), dir("usr/local/bin", 0o755, 0),
		file(binPath[1:], 0o755, bin),
		dir("var", 0o755, 0), dir("var/lib", 0o755, 0), dir(stateDir[1:], 0o700, uid),
		dir("tmp", 0o1777, 0),
		tw.Close(),
	)
	return buf.Bytes(), err
}

// writeOCITar writes img as an OCI image layout, in a tar file at path,
// named apijongler:version for the loaders that read the name there.
func writeOCITar(img v1.Image, version, path string) error {
	tmp, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": version,
		"io.containerd.image.name":          "docker.io/library/apijongler:" + version,
	})); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(tmp, func(name string, fi os.FileInfo, err error) error {
		if err != nil || name == tmp {
			return err
		}
		rel, _ := filepath.Rel(tmp, name)
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil || fi.IsDir() {
			return err
		}
		src, err := os.Open(name)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	return errors.Join(err, tw.Close(), f.Close())
}
