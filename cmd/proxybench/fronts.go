package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/api-jongler/jongler"
)

// front is one process requests go through to the upstream: the bare
// reverse proxy, or `apijongler serve` with a store and a number of keys.
type front struct {
	name  string
	keys  int // 0: the bare proxy
	store string
	url   string
	cmd   *exec.Cmd
	tail  *tailBuffer
	done  chan struct{}
}

var listeningRE = regexp.MustCompile(`^listening on (http://\S+)\s*$`)

// start starts f's process with cmd and waits for its first line,
// "listening on http://HOST:PORT".
func (f *front) start(cmd *exec.Cmd) error {
	f.cmd, f.tail, f.done = cmd, &tailBuffer{}, make(chan struct{})
	cmd.Stderr = f.tail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	first := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadString('\n')
		first <- line
		io.Copy(io.Discard, br)
		cmd.Wait()
		close(f.done)
	}()
	select {
	case line := <-first:
		m := listeningRE.FindStringSubmatch(line)
		if m == nil {
			f.stop()
			return fmt.Errorf("%s: first line %q, want \"listening on http://HOST:PORT\"; it said:\n%s", f.name, line, f.tail)
		}
		f.url = m[1]
	case <-time.After(time.Minute):
		f.stop()
		return fmt.Errorf("%s: did not start in a minute; it said:\n%s", f.name, f.tail)
	}
	// One request, to know that it answers as it should.
	if err := send(http.DefaultClient, f.url+genPath); err != nil {
		f.stop()
		return fmt.Errorf("%s: first request: %w; it said:\n%s", f.name, err, f.tail)
	}
	return nil
}

// stop ends the front's process.
func (f *front) stop() {
	if f.cmd == nil || f.cmd.Process == nil {
		return
	}
	f.cmd.Process.Signal(os.Interrupt)
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		f.cmd.Process.Kill()
		<-f.done
	}
}

// startBare starts the bare reverse proxy to up in a process of its own.
func startBare(up string) (*front, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f := &front{name: "httputil.ReverseProxy"}
	return f, f.start(exec.Command(self, "-role", "bare", "-url", up))
}

// bareIdlePerHost is the bare proxy's idle upstream connections per host:
// enough for every connection the load opens, so that the baseline opens
// none once loaded.
const bareIdlePerHost = 1024

// runBare serves a bare httputil.ReverseProxy to target until interrupted.
func runBare(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost, t.MaxIdleConns = bareIdlePerHost, bareIdlePerHost
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: t,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: log.New(io.Discard, "", 0)}
	return srv.Serve(ln)
}

// benchConnector is the name of the connector serve is given: Gemini's
// API, at the upstream's address.
const benchConnector = "bench"

// startServe starts `bin serve` with keys keys in store ("memory" or
// "file"), its connector aimed at up, its files under work: as an
// operator runs it, with a token and its access log on standard error;
// each client address may hold any number of connections
// (--max-conns-per-client 0), as every load comes from 127.0.0.1.
func startServe(bin, up, work string, keys int, store string) (*front, error) {
	dir, err := os.MkdirTemp(work, fmt.Sprintf("serve-%s-%d-", store, keys))
	if err != nil {
		return nil, err
	}
	conns := filepath.Join(dir, "connectors")
	if err := os.Mkdir(conns, 0o700); err != nil {
		return nil, err
	}
	port := up[strings.LastIndexByte(up, ':')+1:]
	c := fmt.Sprintf(`{"name": %q, "host": "127.0.0.1", "port": %s, "protocol": "http", "format": "json",
"requires_api_key": true, "api_key_header": "x-goog-api-key", "api_key_query": "key", "policy": "gemini"}`, benchConnector, port)
	if err := os.WriteFile(filepath.Join(conns, benchConnector+".json"), []byte(c), 0o600); err != nil {
		return nil, err
	}
	var kv []string
	for i := range keys {
		kv = append(kv, fmt.Sprintf("key%04d=bench-key-%04d-0123456789abcdef", i, i))
	}
	args := []string{"serve", benchConnector, "--listen", "127.0.0.1:0", "--max-conns-per-client", "0"}
	if store == "memory" {
		args = append(args, "--store", "memory:")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(),
		jongler.ConnectorsDirEnv+"="+conns,
		jongler.StateDirEnv+"="+filepath.Join(dir, "state"),
		"APIJONGLER_KEYS_BENCH="+strings.Join(kv, ","),
		"APIJONGLER_TOKENS="+benchToken,
	)
	f := &front{name: fmt.Sprintf("serve, %s store, %s keys", store, count(keys)), keys: keys, store: store}
	return f, f.start(cmd)
}

// cleanEnv is the environment without apijongler's own variables, so
// that an operator's INI file, store or Tor setting does not get in.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "APIJONGLER_") {
			env = append(env, kv)
		}
	}
	return env
}

// count writes n with a comma between thousands: 1,000.
func count(n int) string {
	s := strconv.Itoa(n)
	if len(s) > 3 {
		return s[:len(s)-3] + "," + s[len(s)-3:]
	}
	return s
}

// tailBuffer keeps the last bytes written to it: a front's standard error
// (serve's access log), for the message should it fail.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
