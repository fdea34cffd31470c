package drills_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/api-jongler/jongler"
	"github.com/api-jongler/jongler/internal/filestore"
	"github.com/api-jongler/jongler/jonglertest"
)

// When a process dies holding a key, the kernel frees its lease (the flock)
// and closes its connections in the same step of the process's exit. From
// the upstream's view the dead process's request is in flight until the
// upstream sees that its connection is gone: a request sent with the same
// key before that would be a real double use. This drill kills a process
// whose request the upstream holds (a slow answer, a stream between two
// chunks), tries to take the freed key in a tight loop, sends with it the
// moment it has it, and checks that the upstream had ended the dead request
// by then. It is the worst case of what the soak drill does at random.
//
// Before the file store let such a key rest (filestore.DeadHolderRest), this
// drill found the dead request still in flight upstream in about 2 rounds
// out of 100: the kernel gives the flock back as soon as the upstream can
// see the connection close, and the next taker can be quicker.

const killHolderEnv = "JONGLER_TEST_KILL_HOLDER" // JSON killHolderConfig

type killHolderConfig struct {
	URL, StateDir, Path string
	Key                 wireKey
}

func TestDrillKilledHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const rounds = 2
	for _, variant := range []string{"slow answer", "stream"} {
		t.Run(variant, func(t *testing.T) {
			for round := range rounds {
				killHolderRound(t, variant, round)
			}
		})
	}
}

func killHolderRound(t *testing.T, variant string, round int) {
	t.Helper()
	value := secret("soak-secret-", "k1")
	cfg := jonglertest.Config{
		Keys:   []jonglertest.Key{{Label: "k1", Value: value}},
		Models: map[string]jonglertest.Quota{"gemini-2.5-flash": {RPM: jonglertest.Unlimited, RPD: jonglertest.Unlimited}},
	}
	path := "/v1beta/models/gemini-2.5-flash:generateContent"
	if variant == "stream" {
		cfg.StreamGap = time.Hour
		path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
	} else {
		cfg.Faults.SlowBy = time.Hour
	}
	srv := jonglertest.NewServer(cfg)
	defer srv.Close()
	if variant != "stream" {
		srv.InjectFaults(jonglertest.FaultSlow, 1) // the child's request
	}
	stateDir := t.TempDir()
	js, _ := json.Marshal(killHolderConfig{URL: srv.URL, StateDir: stateDir, Path: path, Key: wireKey{Name: "k1", Value: value}})
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestDrillKilledHolderChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), roleEnv+"=kill-holder", killHolderEnv+"="+string(js))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()

	deadline := time.Now().Add(20 * time.Second)
	for srv.Stats().Keys["k1"].InFlight != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the child's request never reached the server; child output:\n%s", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	var logs syncBuffer
	store, err := jongler.NewFileStore(stateDir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if l, _ := store.Acquire(ctx, "generativelanguage.googleapis.com", []string{"k1"}, 1); l != nil {
		t.Fatal("the key was leasable while the child held it")
	}

	killed := time.Now()
	cmd.Process.Signal(syscall.SIGKILL)
	var lease jongler.Lease
	for lease == nil && time.Since(killed) < 5*time.Second {
		if lease, err = store.Acquire(ctx, "generativelanguage.googleapis.com", []string{"k1"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if lease == nil {
		t.Fatal("the dead child's key was not leasable within 5s")
	}
	leased := time.Since(killed)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1beta/models/gemini-2.5-flash:generateContent",
		strings.NewReader(`{"contents":[{"parts":[{"text":"after"}]}]}`))
	req.Header.Set("x-goog-api-key", value)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lease.Release(context.Background())
	srv.Client().CloseIdleConnections()

	st := srv.Stats()
	t.Logf("round %d: key leased %v after SIGKILL; overlaps %d; dead request counted %+v",
		round, leased.Round(time.Microsecond), st.Overlaps, st.Keys["k1"].Counts)
	if st.Overlaps != 0 {
		t.Errorf("the upstream still served the dead process's request when the next one arrived with its key")
	}
	if leased < filestore.DeadHolderRest {
		t.Errorf("the dead process's key was leased %v after its death; want it to rest %v first", leased, filestore.DeadHolderRest)
	}
	if !strings.Contains(logs.String(), "died holding a key") || !strings.Contains(logs.String(), "key=k1") {
		t.Errorf("no warning about the dead holder of k1; logs:\n%s", logs.String())
	}
}

// TestDrillKilledHolderChild sends one request that the server holds, and
// waits to be killed.
func TestDrillKilledHolderChild(t *testing.T) {
	if os.Getenv(roleEnv) != "kill-holder" {
		t.Skip("child process of TestDrillKilledHolder")
	}
	var cfg killHolderConfig
	if err := json.Unmarshal([]byte(os.Getenv(killHolderEnv)), &cfg); err != nil {
		t.Fatal(err)
	}
	tr, err := jongler.NewTransport("generativelanguage.googleapis.com",
		jongler.WithKeys(fromWire(cfg.Key)...), jongler.WithStateDir(cfg.StateDir), jongler.WithBaseURL(cfg.URL))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, cfg.URL+cfg.Path, strings.NewReader(`{"contents":[{"parts":[{"text":"held"}]}]}`))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) // the stream pauses for an hour
	t.Fatal("the held request ended")
}
