package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The load runs in a process of its own (proxybench -role load), so that
// the front's process accounts for the front alone, and the client's work
// competes with it for the machine as a real client's would. It writes
// measuringLine when its warm-up ends, then, when done, one line of JSON
// (loadResult).

const (
	measuringLine = "measuring"
	openLine      = "open"
	genPath       = "/v1beta/models/gemini-2.5-flash:generateContent"
	streamPath    = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
	benchToken    = "proxybench-token-5f0c9a7e"
	requestBody   = `{"contents":[{"parts":[{"text":"Hello"}]}]}`
)

// loadResult is what a load reports of its measured span.
type loadResult struct {
	Requests int64         `json:"requests"` // answered 200, begun in the span
	Errors   int64         `json:"errors"`   // failed or not 200, in the whole run
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Seconds  float64       `json:"seconds"`
}

// runLoad sends requests to base from conns goroutines, each with a
// connection of its own, for warmup, then for duration, and writes to w
// measuringLine between the two and the result of the latter at the end.
func runLoad(w io.Writer, base string, conns int, warmup, duration time.Duration) error {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	var (
		mu     sync.Mutex
		lats   []time.Duration
		errs   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Value // the first error, for the message
	)
	start := time.Now()
	from := start.Add(warmup)
	end := from.Add(duration)
	said := time.AfterFunc(warmup, func() { fmt.Fprintln(w, measuringLine) })
	defer said.Stop()
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if err := send(client, base+genPath); err != nil {
					errs.Add(1)
					failed.CompareAndSwap(nil, err.Error())
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if !t0.Before(from) {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lats)
	r := loadResult{Requests: int64(len(lats)), Errors: errs.Load(), P50: percentile(lats, 0.5), P99: percentile(lats, 0.99), Seconds: duration.Seconds()}
	if r.Requests == 0 {
		msg, _ := failed.Load().(string)
		return fmt.Errorf("load %s: no request answered 200 in the measured span (first error: %s)", base, msg)
	}
	return json.NewEncoder(w).Encode(r)
}

// send makes one request as an SDK would, and reads the answer to its end.
func send(c *http.Client, url string) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(requestBody))
	if err != nil {
		return err
	}
	req.Header.Set("x-goog-api-key", benchToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// runIdle opens n connections to base and leaves them open, idle, until
// stop is closed (standard input, for a child): with streams, each holds
// a server-sent-event stream whose first event was read; else each has
// answered one request and waits for the next. It writes openLine once
// all are open.
func runIdle(w io.Writer, stop io.Reader, base string, n int, streams bool) error {
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var bodies []io.Closer
	defer func() {
		for _, b := range bodies {
			b.Close()
		}
	}()
	if !streams {
		// n requests at once, so that each takes a connection of its own.
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() { errs <- send(client, base+genPath) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return fmt.Errorf("idle connections to %s: %w", base, err)
			}
		}
	}
	for range n {
		if !streams {
			break
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+streamPath, strings.NewReader(requestBody))
		req.Header.Set("x-goog-api-key", benchToken)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("stream to %s: %w", base, err)
		}
		bodies = append(bodies, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("stream to %s: status %d", base, resp.StatusCode)
		}
		buf := make([]byte, len("data: {}\n\n"))
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			return fmt.Errorf("stream to %s: %w", base, err)
		}
	}
	fmt.Fprintln(w, openLine)
	io.Copy(io.Discard, stop)
	return nil
}

// child is a load or idle process proxybench started.
type child struct {
	cmd   *exec.Cmd
	out   *bufio.Reader
	stdin io.WriteCloser
	errb  bytes.Buffer
}

// startChild starts this program with args.
func startChild(args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: exec.Command(self, args...)}
	c.cmd.Stderr = &c.errb
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	c.out = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

// expect reads the child's next line and fails unless it is want.
func (c *child) expect(want string) error {
	line, err := c.out.ReadString('\n')
	if strings.TrimSpace(line) != want {
		return c.failed(fmt.Errorf("child said %q, want %q (%v)", line, want, err))
	}
	return nil
}

// result reads the child's result line and waits for it to exit.
func (c *child) result() (loadResult, error) {
	var r loadResult
	line, err := c.out.ReadString('\n')
	if err != nil {
		return r, c.failed(err)
	}
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return r, c.failed(fmt.Errorf("child's result %q: %w", line, err))
	}
	return r, c.wait()
}

// wait closes the child's input and waits for it to exit.
func (c *child) wait() error {
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		return c.failed(err)
	}
	return nil
}

// failed returns err with what the child wrote to its standard error.
func (c *child) failed(err error) error {
	c.stdin.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
	return errors.Join(err, errors.New(strings.TrimSpace(c.errb.String())))
}

// loadArgs are the arguments of a load child.
func loadArgs(url string, conns int, warmup, duration time.Duration) []string {
	return []string{"-role", "load", "-url", url, "-c", strconv.Itoa(conns), "-warmup", warmup.String(), "-duration", duration.String()}
}
