#!/usr/bin/env python3
"""The Python original and this project side by side, on the original's
own ground: the same workload, against the same simulated Gemini API
(sdktests/simserver: per-project per-minute quotas, Google's real 429
bodies), sent through

  original  api-jongler 2.0.7's APIJongler.request, threads as its users
            write them (an APIJongler per request, as its README's
            robust_api_call)
  compat    this project's compat package (the original's calls, in Go)
  serve     apijongler serve, from the google-genai SDK (its default: no
            retry), threads

each sequential and with 8 workers, every run on a fresh simulation, all
runs at once (each has its own upstream, keys and state). A caller sends
each request until it is served; after a 429 (or no key) it waits the
Retry-After it was told, or --pause when it was told none (the original
tells none: its README sleeps 30 to 60 s).

Run from the module's root, with the Python of the SDK suite's venv:

  python3 -m venv /tmp/v && /tmp/v/bin/pip install --require-hashes -r sdktests/python/requirements.txt
  /tmp/v/bin/python bench/original.py

It prints a Markdown table: requests served, 429s the upstream sent
(wasted), 429s (or no-key errors) the caller saw, overlaps (a key used by
two requests at once, counted by the simulation), wall time, and CPU per
request of the jongling layer (the original's whole process; compat's
whole process; serve's process, with the SDK client's own CPU beside it).
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONNECTOR = "generativelanguage.googleapis.com"


def body(i):
    return json.dumps({"contents": [{"parts": [{"text": f"request {i}"}]}]})


def run_workers(n, workers, send):
    """Runs send(i) for i in 0..n-1 on `workers` threads; send returns the
    number of refusals seen before the request was served."""
    lock = threading.Lock()
    state = {"next": 0, "seen": 0, "served": 0}

    def worker():
        while True:
            with lock:
                i = state["next"]
                if i >= n:
                    return
                state["next"] += 1
            seen = send(i)
            with lock:
                state["seen"] += seen
                state["served"] += 1

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state


# --- children: one process per run, so that CPU time is the run's own ---

def child_original(args):
    """The original, pointed at the simulation. It reads its connectors
    only from its own package (api_jongler/connectors), so the connector
    it loads is replaced by the same fields with the simulation's address;
    its keys come from $APIJONGLER_CONFIG and its locks live under $HOME,
    both the run's own."""
    from api_jongler import APIJongler
    from api_jongler.api_connector import APIConnector

    host, port = args.sim.removeprefix("http://").split(":")
    conf = {"name": CONNECTOR, "host": host, "port": int(port), "protocol": "http",
            "format": "json", "requires_api_key": True}
    APIJongler._loadApiConnector = lambda self, name: APIConnector(conf)
    endpoint = f"/v1beta/models/{args.model}:generateContent"

    def send(i):
        seen = 0
        while True:
            try:
                j = APIJongler(CONNECTOR)
            except RuntimeError:  # no key vacant
                seen += 1
                time.sleep(args.pause)
                continue
            try:
                _, status = j.request("POST", endpoint, body(i))
            except RuntimeError:
                status = 0
            finally:
                j.disconnect()
            if status == 200:
                return seen
            seen += 1
            time.sleep(args.pause)

    return send


def child_genai(args):
    from google import genai
    from google.genai import errors, types

    client = genai.Client(api_key="bench", http_options=types.HttpOptions(base_url=args.serve))

    def send(i):
        seen = 0
        while True:
            try:
                client.models.generate_content(model=args.model, contents=f"request {i}")
                return seen
            except errors.ClientError as e:
                if e.code != 429:
                    raise
                seen += 1
                ra = e.response.headers.get("retry-after") if e.response is not None else None
                time.sleep(float(ra) if ra else args.pause)

    return send


def child(args):
    send = {"original": child_original, "genai": child_genai}[args.child](args)
    cpu0 = time.process_time()
    start = time.monotonic()
    st = run_workers(args.requests, args.workers, send)
    print(json.dumps({"served": st["served"], "seen_429": st["seen"],
                      "wall_s": time.monotonic() - start, "cpu_s": time.process_time() - cpu0}))


# --- the parent ---

def proc_cpu(pid):
    """CPU seconds a running process has used (Linux /proc)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sim:
    def __init__(self, binaries, args):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="bench-sim-"))
        self.proc = subprocess.Popen(
            [str(binaries / "simserver"), "-dir", str(self.dir), "-keys", str(args.keys),
             "-projects", str(args.projects), "-rpm", str(args.rpm), "-rpd", "100000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().removeprefix("listening on ").strip()

    def stats(self):
        with urllib.request.urlopen(self.url + "/_sim/stats") as r:
            return json.load(r)["gemini"]

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_one(binaries, args, mode, workers):
    sim = Sim(binaries, args)
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-{mode}-"))
    env = dict(os.environ, APIJONGLER_CONFIG=str(sim.dir / "keys.ini"),
               APIJONGLER_CONNECTORS=str(sim.dir / "connectors"),
               APIJONGLER_STATE_DIR=str(work / "state"), APIJONGLER_TOR="",
               HOME=str(work), APIJONGLER_LOG_LEVEL="WARNING")
    common = ["--requests", str(args.requests), "--workers", str(workers),
              "--pause", str(args.pause), "--model", args.model]
    serve = None
    try:
        if mode == "original":
            out = subprocess.run([sys.executable, __file__, "--child", "original", "--sim", sim.url, *common],
                                 env=env, capture_output=True, text=True, check=True).stdout
        elif mode == "compat":
            out = subprocess.run([str(binaries / "compatload"), "-requests", str(args.requests),
                                  "-workers", str(workers), "-pause", f"{args.pause}s", "-model", args.model],
                                 env=env, capture_output=True, text=True, check=True).stdout
        else:
            serve = subprocess.Popen([str(binaries / "apijongler"), "serve", "--root", "gemini",
                                      "--listen", "127.0.0.1:0"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
            url = serve.stdout.readline().removeprefix("listening on ").strip()
            cpu0 = proc_cpu(serve.pid)
            out = subprocess.run([sys.executable, __file__, "--child", "genai", "--serve", url, *common],
                                 env=env, capture_output=True, text=True, check=True).stdout
            serve_cpu = proc_cpu(serve.pid) - cpu0
        res = json.loads(out.strip().splitlines()[-1])
        if mode == "serve":
            res["client_cpu_s"], res["cpu_s"] = res["cpu_s"], serve_cpu
        res["upstream"] = sim.stats()
        return res
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=15)
    p.add_argument("--keys", type=int, default=4)
    p.add_argument("--projects", type=int, default=2)
    p.add_argument("--rpm", type=int, default=5, help="requests per minute of each (project, model)")
    p.add_argument("--pause", type=float, default=5, help="seconds a caller waits after a refusal without Retry-After")
    p.add_argument("--model", default="gemini-2.5-flash")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--sim", help=argparse.SUPPRESS)
    p.add_argument("--serve", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    binaries = pathlib.Path(tempfile.mkdtemp(prefix="bench-bin-"))
    for name, pkg in (("apijongler", "./cmd/apijongler"), ("simserver", "./sdktests/simserver"),
                      ("compatload", "./bench/compatload")):
        subprocess.run(["go", "build", "-o", str(binaries / name), pkg], cwd=ROOT, check=True)
    runs = [(m, w) for w in (1, 8) for m in ("original", "compat", "serve")]
    with concurrent.futures.ThreadPoolExecutor(len(runs)) as ex:
        futures = {r: ex.submit(run_one, binaries, args, *r) for r in runs}
        results = {r: f.result() for r, f in futures.items()}
    shutil.rmtree(binaries, ignore_errors=True)

    print(f"{args.requests} requests of {args.model}; {args.keys} keys in {args.projects} projects, "
          f"{args.rpm} requests a minute each (project, model); pause {args.pause:g}s without Retry-After\n")
    print("| run | workers | served | 429s upstream (wasted) | 429s / no key seen by caller | overlaps | wall | CPU per request |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    names = {"original": "api-jongler 2.0.7 `request`", "compat": "`compat` (Go)",
             "serve": "`serve` + google-genai"}
    for (m, w), r in results.items():
        u = r["upstream"]
        cpu = f"{1000 * r['cpu_s'] / max(r['served'], 1):.1f} ms"
        if m == "serve":
            cpu += f" (+ SDK {1000 * r['client_cpu_s'] / max(r['served'], 1):.1f} ms)"
        print(f"| {names[m]} | {w} | {u['successes']} | {u['rate_limited']} | {r['seen_429']} | "
              f"{u['overlaps']} | {r['wall_s']:.1f} s | {cpu} |")


if __name__ == "__main__":
    main()
