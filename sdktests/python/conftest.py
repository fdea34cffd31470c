"""Fixtures: a simulated upstream (sdktests/simserver) and `apijongler serve`
in front of it, both built from this checkout with `go build` and run as
processes, as a Python user runs them.

The simulated upstream writes an INI file of made-up keys and connector
files pointing at itself; serve reads them through APIJONGLER_CONFIG and
APIJONGLER_CONNECTORS, with a state directory of its own, on a free port,
with a client token. Nothing leaves the machine.
"""

import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "pytest-token-5f0c2a9d81b34e77"
MODEL = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4-5"


def _go():
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not in PATH: the suite builds apijongler and the simulated upstream from this checkout")
    return go


@pytest.fixture(scope="session")
def binaries(tmp_path_factory):
    """apijongler and simserver, built from this checkout."""
    out = tmp_path_factory.mktemp("bin")
    for name, pkg in (("apijongler", "./cmd/apijongler"), ("simserver", "./sdktests/simserver")):
        subprocess.run([_go(), "build", "-o", str(out / name), pkg], cwd=ROOT, check=True)
    return out


def _first_line(proc, what, timeout=30):
    """The URL of proc's first line, `listening on URL`."""
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    if time.monotonic() > deadline or not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"{what} did not start: first line {line!r}")
    return line.removeprefix("listening on ").strip()


class Upstream:
    """A running simserver: its URL, its directory (keys.ini, connectors/)."""

    def __init__(self, binaries, args):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="sim-"))
        self.proc = subprocess.Popen(
            [str(binaries / "simserver"), "-dir", str(self.dir), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = _first_line(self.proc, "simserver")
        self.ini = self.dir / "keys.ini"
        self.connectors = self.dir / "connectors"

    def key_values(self):
        """The key values of the INI file, to check that none leaks."""
        import configparser
        ini = configparser.ConfigParser()
        ini.read(self.ini)
        return [v for s in ini.sections() if s != "routes" for v in ini[s].values()]

    def stats(self):
        import json
        import urllib.request
        with urllib.request.urlopen(self.url + "/_sim/stats") as r:
            return json.load(r)

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Serve:
    """A running `apijongler serve` in front of an Upstream."""

    def __init__(self, binaries, upstream, args=()):
        self.upstream = upstream
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="serve-"))
        self.log_path = self.dir / "serve.log"
        env = dict(os.environ)
        env.update({
            "APIJONGLER_CONFIG": str(upstream.ini),
            "APIJONGLER_CONNECTORS": str(upstream.connectors),
            "APIJONGLER_STATE_DIR": str(self.dir / "state"),
            "APIJONGLER_LISTEN": "127.0.0.1:0",
            "APIJONGLER_TOKENS": TOKEN,
            "APIJONGLER_TOR": "",
        })
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(binaries / "apijongler"), "serve", "--root", "gemini", "--log-level", "info", *args],
            env=env, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.url = _first_line(self.proc, "apijongler serve")

    def log(self):
        return self.log_path.read_text()

    def requests(self, path_part):
        """The access-log lines of requests whose path holds path_part."""
        return [line for line in self.log().splitlines()
                if "msg=request" in line and path_part in line]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        log = self.log()
        for value in self.upstream.key_values():
            assert value not in log, "a key value is in serve's log"
        assert TOKEN not in log, "the client token is in serve's log"
        shutil.rmtree(self.dir, ignore_errors=True)


def _pair(binaries, sim_args, serve_args=()):
    up = Upstream(binaries, sim_args)
    try:
        sv = Serve(binaries, up, serve_args)
    except BaseException:
        up.stop()
        raise
    return up, sv


# The gap between two chunks of a stream: wide enough that chunks which
# arrive together prove a buffering hop.
STREAM_GAP = 0.4
STREAM_CHUNKS = 4


@pytest.fixture(scope="session")
def served(binaries):
    """serve in front of an upstream with quota to spare and slow streams."""
    up, sv = _pair(binaries, ["-keys", "3", "-stream-chunks", str(STREAM_CHUNKS),
                              "-stream-gap", f"{int(STREAM_GAP * 1000)}ms"])
    yield sv
    sv.stop()
    up.stop()


@pytest.fixture
def exhausted(binaries):
    """serve in front of an upstream whose one Gemini key and one Anthropic
    key may each serve one request a day: the second request finds the pool
    spent until the day's end."""
    up, sv = _pair(binaries, ["-keys", "1", "-rpd", "1", "-anthropic-keys", "1",
                              "-anthropic-limit", "1", "-anthropic-window", "24h"])
    yield sv
    sv.stop()
    up.stop()


@pytest.fixture
def minute_left(binaries):
    """serve in front of an upstream whose one key serves one request a
    minute, a few seconds before the minute ends: the second request gets a
    Retry-After of those few seconds."""
    up, sv = _pair(binaries, ["-keys", "1", "-rpm", "1", "-window-left", "6s"])
    yield sv
    sv.stop()
    up.stop()


def chunk_times(iterable):
    """Each item of iterable with the time.monotonic() it arrived at."""
    out = []
    for item in iterable:
        out.append((time.monotonic(), item))
    return out


def assert_spread(times, chunks=STREAM_CHUNKS, gap=STREAM_GAP):
    """The chunks arrived one by one, spread over the upstream's gaps, not
    all at once at the end."""
    assert len(times) >= chunks, f"{len(times)} chunks, want {chunks} or more"
    spread = times[-1][0] - times[0][0]
    want = 0.5 * (chunks - 1) * gap
    assert spread >= want, f"chunks arrived within {spread:.3f}s, want at least {want:.3f}s: the stream was buffered"


def retry_after(headers):
    """The Retry-After of an SDK error's response, as a number of seconds."""
    value = headers.get("retry-after")
    assert value is not None, "the 429 has no Retry-After"
    assert re.fullmatch(r"[0-9]+", value), f"Retry-After {value!r}"
    return int(value)
