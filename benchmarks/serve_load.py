"""HTTP load benchmark of the recommendation service: each endpoint against the trivial one.

The script starts one ``recsys serve`` process on 127.0.0.1, with the same
settings for every endpoint, and drives load at each endpoint in turn:

- ``GET /healthz``, the trivial endpoint that every ratio divides by;
- ``GET /v1/users/{user_id}/recommendations``, for users of the model;
- ``GET /v1/items/{item_id}/similar``, for items of the model;
- ``POST /v1/recommendations``, for baskets of 3 to 5 items of the model.

The ids are drawn from the model with a fixed seed (``--seed``), ``--distinct``
requests per endpoint, which every connection cycles through. Each endpoint gets
``--warmup`` seconds of load that are not measured, then ``--duration`` seconds
that are. The load is closed-loop: ``--concurrency`` keep-alive connections,
each sending its next request when the previous response has arrived.

For each endpoint the script reports requests per second, the 50th and 99th
percentile latency in milliseconds, the number of errors (a failed connection or
a status other than 2xx), and the CPU seconds the server processes used per
request. Each recommend endpoint is then compared with ``GET /healthz``: the
goal is at least 0.8x its requests per second and at most 2x its p99 latency.

The load generator is ``wrk`` when it is on PATH (Debian package ``wrk``),
driven by a Lua script, because it is written in C and leaves the most CPU to
the server on a 2-core machine. Otherwise it is a built-in generator: asyncio
with one raw HTTP/1.1 keep-alive socket per connection (``--generator`` picks
one). The latencies of both include the time the request waited in the server's
socket queue.

Without ``--model`` the script trains ``ItemKNN()`` with its defaults on the
bundled Online Retail purchases, as ``make demo`` does, into a temporary
directory. The server keeps its default settings, the JSON access log included,
which goes to a file in the temporary directory.

Example::

    python benchmarks/serve_load.py --workers 1 --concurrency 16 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT_JSON = REPO / "benchmarks" / "results" / "serve_load.json"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0

HEALTH = "GET /healthz"
USER = "GET /v1/users/{user_id}/recommendations"
SIMILAR = "GET /v1/items/{item_id}/similar"
BASKET = "POST /v1/recommendations"
#: Endpoints in the order they are loaded. The first is the trivial one that the ratios divide by.
ENDPOINTS = (HEALTH, USER, SIMILAR, BASKET)
RECOMMEND_ENDPOINTS = (USER, SIMILAR, BASKET)

#: Goal of a recommend endpoint: at least this share of the trivial endpoint's requests per second.
GOAL_RPS_RATIO = 0.8
#: Goal of a recommend endpoint: at most this multiple of the trivial endpoint's p99 latency.
GOAL_P99_RATIO = 2.0

BASKET_SIZES = (3, 4, 5)

#: Meaning of each result-row field, copied into the JSON for its readers.
ROW_FIELDS = {
    "endpoint": "method and route of the endpoint",
    "rps": "responses completed per second in the measured window",
    "p50_ms": "median latency, ms, from sending a request to reading its whole response",
    "p99_ms": "99th percentile latency, ms",
    "errors": "failed connections plus responses with a status other than 2xx, in the measured window",
    "requests": "responses completed in the measured window",
    "server_cpu_ms_per_request": "CPU time of every server process (user + system) per request, ms",
    "server_cpu_per_wall": "CPU seconds of the server processes per wall second; 1 means one busy core",
    "client_cpu_per_wall": "CPU seconds of the load generator per wall second",
}


@dataclass(frozen=True)
class HttpRequest:
    """One request of the load, as method, path (percent-encoded) and JSON body."""

    method: str
    path: str
    body: bytes = b""

    def to_bytes(self) -> bytes:
        """Return the request as HTTP/1.1 bytes on a keep-alive connection."""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {HOST}", "Accept: application/json"]
        if self.body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + self.body


@dataclass
class LoadResult:
    """Measurements of one generator run on one endpoint."""

    requests: int
    errors: int
    duration_s: float
    latencies_ms: np.ndarray | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    client_cpu_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    def percentile_ms(self, q: float) -> float:
        """Return a latency percentile in ms, from the generator's summary or the raw latencies."""
        if q == 50 and self.p50_ms is not None:
            return self.p50_ms
        if q == 99 and self.p99_ms is not None:
            return self.p99_ms
        if self.latencies_ms is None or len(self.latencies_ms) == 0:
            return float("nan")
        return float(np.percentile(self.latencies_ms, q))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write the results JSON."""
    args = parse_arguments(argv)
    generator = choose_generator(args.generator)
    with tempfile.TemporaryDirectory(prefix="recsys-serve-load-") as scratch_name:
        scratch = Path(scratch_name)
        model_dir, model_description = prepare_model(args.model, scratch)
        requests = build_requests(model_dir, args.seed, args.distinct)
        log_path = scratch / "server.log"
        with running_server(model_dir, args, log_path) as server:
            settings = describe_settings(args, argv, generator, server, model_description)
            print(format_settings(settings))
            rows = []
            for endpoint in ENDPOINTS:
                row = measure_endpoint(endpoint, requests[endpoint], args, generator, server)
                rows.append(row)
                print(format_row(row), flush=True)
    ratios = compare_with_trivial(rows)
    print()
    print(format_table(rows))
    print()
    print(format_ratios(ratios))
    write_results(args.out_json, settings, rows, ratios)
    print(f"\nwrote {args.out_json}")
    return 0


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])

    # The server.
    parser.add_argument(
        "--model", type=Path, help="model directory to serve (default: train ItemKNN on Online Retail)"
    )
    parser.add_argument("--workers", type=_positive_int, default=1, help="server processes (default 1)")
    parser.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="server event loop (default auto)",
    )
    parser.add_argument(
        "--http",
        choices=("auto", "httptools", "h11"),
        default="auto",
        help="server HTTP parser (default auto)",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free port)")

    # The load.
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=16,
        help="open connections, each with one request in flight (default 16)",
    )
    parser.add_argument(
        "--duration", type=_positive_float, default=10.0, help="measured seconds per endpoint (default 10)"
    )
    parser.add_argument(
        "--warmup",
        type=_non_negative_float,
        default=2.0,
        help="unmeasured seconds of load before each endpoint (default 2)",
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "builtin"),
        default="auto",
        help="load generator: wrk, the built-in asyncio one, or auto (wrk when on PATH; default)",
    )
    parser.add_argument(
        "--wrk-threads",
        type=_positive_int,
        default=1,
        help="threads of wrk, at most --concurrency (default 1)",
    )
    parser.add_argument(
        "--distinct", type=_positive_int, default=1000, help="distinct requests per endpoint (default 1000)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the ids drawn from the model (default 0)"
    )

    parser.add_argument(
        "--out-json",
        type=Path,
        default=DEFAULT_OUT_JSON,
        help=f"results file (default {DEFAULT_OUT_JSON.relative_to(REPO)})",
    )

    args = parser.parse_args(argv)
    if args.wrk_threads > args.concurrency:
        parser.error(f"--wrk-threads ({args.wrk_threads}) must be at most --concurrency ({args.concurrency})")
    return args


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 1; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0; got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of at least 0; got {text!r}")
    return value


def choose_generator(choice: str) -> str:
    """Return "wrk" or "builtin" for the ``--generator`` choice."""
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "builtin"
    if choice == "wrk" and not shutil.which("wrk"):
        raise SystemExit(
            "serve_load.py: error: --generator wrk, but wrk is not on PATH; install it or use builtin"
        )
    return choice


# --- model and requests ---------------------------------------------------------------------------


def prepare_model(model_dir: Path | None, scratch: Path) -> tuple[Path, dict[str, Any]]:
    """Return the model directory to serve, training the bundled Online Retail model when none is given."""
    import recsys
    from recsys import datasets

    if model_dir is None:
        started = time.perf_counter()
        events, items = datasets.load_online_retail()
        interactions = recsys.Interactions.from_events(events, item_metadata=items)
        model_dir = scratch / "online-retail"
        recsys.ItemKNN(show_progress=False).fit(interactions).save(model_dir)
        source = f"ItemKNN() trained on the bundled Online Retail purchases in {time.perf_counter() - started:.1f} s"
    else:
        source = "given with --model"
    model = recsys.load(model_dir)
    return model_dir, {
        "source": source,
        "class": type(model).__name__,
        "version": model.version_,
        "users": len(model.user_ids_),
        "items": len(model.item_ids_),
    }


def build_requests(model_dir: Path, seed: int, distinct: int) -> dict[str, list[HttpRequest]]:
    """Draw ``distinct`` requests per endpoint from the model's users and items, with a fixed seed."""
    import recsys

    model = recsys.load(model_dir)
    rng = np.random.default_rng(seed)
    users = model.user_ids_.ids_of(rng.integers(0, len(model.user_ids_), distinct))
    items = model.item_ids_.ids_of(rng.integers(0, len(model.item_ids_), distinct))
    requests: dict[str, list[HttpRequest]] = {
        HEALTH: [HttpRequest("GET", "/healthz")],
        USER: [HttpRequest("GET", f"/v1/users/{_quote(user)}/recommendations") for user in users],
        SIMILAR: [HttpRequest("GET", f"/v1/items/{_quote(item)}/similar") for item in items],
        BASKET: [],
    }
    n_items = len(model.item_ids_)
    for size in rng.choice(BASKET_SIZES, distinct):
        positions = rng.choice(n_items, size=min(int(size), n_items), replace=False)
        basket = [_json_id(item) for item in model.item_ids_.ids_of(positions)]
        body = json.dumps({"items": basket}).encode("ascii")
        requests[BASKET].append(HttpRequest("POST", "/v1/recommendations", body))
    return requests


def _quote(item_id: Any) -> str:
    return urllib.parse.quote(str(item_id), safe="")


def _json_id(item_id: Any) -> Any:
    """Return an id as a JSON value of its own type: an int stays a number, anything else a string."""
    if isinstance(item_id, (int, np.integer)) and not isinstance(item_id, bool):
        return int(item_id)
    return str(item_id)


# --- the server -------------------------------------------------------------------------------------


@dataclass
class Server:
    """A running ``recsys serve`` process."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    command: list[str]

    @property
    def base_url(self) -> str:
        """The URL of the server, without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    def implementations(self) -> dict[str, Any]:
        """Read the workers, event loop and HTTP parser from the server's start-up log record."""
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"starting uvicorn' not in line:
                continue
            record = json.loads(line)
            return {key: record.get(key) for key in ("workers", "loop", "http")}
        return {"workers": None, "loop": None, "http": None}


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server(model_dir: Path, args: argparse.Namespace, log_path: Path) -> Iterator[Server]:
    """Start ``recsys serve`` on 127.0.0.1, wait until /readyz returns 200, and stop it by PID on exit."""
    port = args.port or free_port()
    command = [
        sys.executable,
        "-m",
        "recsys.cli",
        "serve",
        "--model",
        str(model_dir),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--loop",
        args.loop,
        "--http",
        args.http,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        server = Server(process, port, log_path, command)
        try:
            _wait_until_ready(server)
            yield server
        finally:
            _stop(process)


def _wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(base_url=server.base_url, timeout=1.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with status {server.process.returncode} during start-up; "
                    f"its log:\n{server.log_path.read_text(errors='replace')}"
                )
            with contextlib.suppress(httpx.TransportError):
                if http.get("/readyz").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(
        f"the server was not ready after {STARTUP_TIMEOUT_S} s; its log:\n{server.log_path.read_text()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def process_tree_cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of process ``pid`` and its children, from /proc (Linux)."""
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_path.read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces, so split after it.
        fields = text[text.rindex(")") + 2 :].split()
        process_id = int(stat_path.parent.name)
        parent_id = int(fields[1])
        if process_id == pid or parent_id == pid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks_per_second


# --- load generators --------------------------------------------------------------------------------


def measure_endpoint(
    endpoint: str, requests: list[HttpRequest], args: argparse.Namespace, generator: str, server: Server
) -> dict[str, Any]:
    """Warm up, then load one endpoint for ``args.duration`` seconds and return its result row."""
    if args.warmup > 0:
        _generate(requests, args, generator, server, args.warmup)
    cpu_before = process_tree_cpu_seconds(server.process.pid)
    result = _generate(requests, args, generator, server, args.duration)
    server_cpu = process_tree_cpu_seconds(server.process.pid) - cpu_before
    return {
        "endpoint": endpoint,
        "rps": result.requests / result.duration_s,
        "p50_ms": result.percentile_ms(50),
        "p99_ms": result.percentile_ms(99),
        "errors": result.errors,
        "requests": result.requests,
        "server_cpu_ms_per_request": 1000 * server_cpu / result.requests if result.requests else None,
        "server_cpu_per_wall": server_cpu / result.duration_s,
        "client_cpu_per_wall": result.client_cpu_s / result.duration_s,
    }


def _generate(
    requests: list[HttpRequest], args: argparse.Namespace, generator: str, server: Server, duration_s: float
) -> LoadResult:
    if generator == "wrk":
        return run_wrk(requests, server.base_url, args.concurrency, duration_s, args.wrk_threads)
    return run_builtin(requests, server.port, args.concurrency, duration_s)


_WRK_SCRIPT = """
local requests = {}
local count = 0
local next_index = 0

-- wrk calls init after it has set the Host header, which wrk.format then adds.
init = function(args)
  requests = {%(requests)s}
  count = #requests
end

request = function()
  next_index = next_index %% count + 1
  return requests[next_index]
end

done = function(summary, latency, requests_summary)
  local errors = summary.errors
  io.write(string.format(
    "WRK_RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"connect\\": %%d, \\"read\\": %%d, " ..
    "\\"write\\": %%d, \\"status\\": %%d, \\"timeout\\": %%d, \\"p50_us\\": %%f, \\"p99_us\\": %%f}\\n",
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    # JSON string escapes of ASCII text are valid Lua string escapes.
    return json.dumps(text, ensure_ascii=True)


def wrk_script(requests: list[HttpRequest]) -> str:
    """Return a wrk Lua script that cycles through ``requests`` and prints a JSON summary."""
    formatted = []
    for request in requests:
        headers = "{}"
        body = "nil"
        if request.body:
            headers = '{["Content-Type"] = "application/json"}'
            body = _lua_string(request.body.decode("ascii"))
        formatted.append(
            f"wrk.format({_lua_string(request.method)}, {_lua_string(request.path)}, {headers}, {body})"
        )
    return _WRK_SCRIPT % {"requests": ",\n".join(formatted)}


def run_wrk(
    requests: list[HttpRequest], base_url: str, concurrency: int, duration_s: float, threads: int
) -> LoadResult:
    """Load ``base_url`` with wrk and parse the summary its Lua ``done`` hook prints."""
    # wrk takes whole seconds.
    seconds = max(1, round(duration_s))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script_file:
        script_file.write(wrk_script(requests))
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(
            [
                "wrk",
                f"--threads={threads}",
                f"--connections={concurrency}",
                f"--duration={seconds}s",
                "--timeout=10s",
                f"--script={script_file.name}",
                base_url,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 60,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(script_file.name)
    match = re.search(r"^WRK_RESULT (\{.*\})$", completed.stdout, re.MULTILINE)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(
            f"wrk failed with status {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
        )
    summary = json.loads(match.group(1))
    errors = sum(summary[key] for key in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        requests=summary["requests"],
        errors=errors,
        duration_s=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        client_cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    )


def run_builtin(requests: list[HttpRequest], port: int, concurrency: int, duration_s: float) -> LoadResult:
    """Load the server with asyncio: ``concurrency`` keep-alive sockets, one request in flight on each."""
    payloads = [request.to_bytes() for request in requests]
    cpu_before = time.process_time()
    with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
        result = runner.run(_drive(payloads, port, concurrency, duration_s))
    result.client_cpu_s = time.process_time() - cpu_before
    return result


def _fast_loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _drive(payloads: list[bytes], port: int, concurrency: int, duration_s: float) -> LoadResult:
    started = time.perf_counter()
    deadline = started + duration_s
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    counts = {"errors": 0}

    async def connection(offset: int) -> None:
        index = offset
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                assert reader is not None
                payload = payloads[index % len(payloads)]
                index += 1
                sent = time.perf_counter()
                writer.write(payload)
                status = await _read_response(reader)
                received = time.perf_counter()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            if received > deadline:
                break
            latencies.append(received - sent)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if not 200 <= status < 300:
                counts["errors"] += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection(i * len(payloads) // concurrency) for i in range(concurrency)))
    return LoadResult(
        requests=len(latencies),
        errors=counts["errors"],
        duration_s=duration_s,
        latencies_ms=np.asarray(latencies) * 1000,
        statuses=statuses,
    )


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with a Content-Length or chunked body and return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


# --- report -----------------------------------------------------------------------------------------


def compare_with_trivial(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return each recommend endpoint's requests/s and p99 ratios to GET /healthz, with the goal verdict."""
    trivial = next(row for row in rows if row["endpoint"] == HEALTH)
    ratios = []
    for row in rows:
        if row["endpoint"] not in RECOMMEND_ENDPOINTS:
            continue
        rps_ratio = row["rps"] / trivial["rps"] if trivial["rps"] else float("nan")
        p99_ratio = row["p99_ms"] / trivial["p99_ms"] if trivial["p99_ms"] else float("nan")
        ratios.append(
            {
                "endpoint": row["endpoint"],
                "rps_ratio": rps_ratio,
                "p99_ratio": p99_ratio,
                "goal_met": bool(
                    rps_ratio >= GOAL_RPS_RATIO and p99_ratio <= GOAL_P99_RATIO and not row["errors"]
                ),
            }
        )
    return ratios


def describe_settings(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    generator: str,
    server: Server,
    model: dict[str, Any],
) -> dict[str, Any]:
    """Collect the server, generator, machine and version settings of the run."""
    used = server.implementations()
    versions = {"python": platform.python_version()}
    for package in ("recsys", "fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    generator_description = "built-in asyncio generator"
    if generator == "wrk":
        version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        generator_description = (version.stdout + version.stderr).split("[")[0].strip() or "wrk"
    arguments = list(argv) if argv is not None else sys.argv[1:]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "benchmarks/serve_load.py", *arguments]),
        "workers": used["workers"],
        "loop": used["loop"],
        "http": used["http"],
        "generator": generator,
        "generator_version": generator_description,
        "wrk_threads": args.wrk_threads if generator == "wrk" else None,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "distinct_requests": args.distinct,
        "seed": args.seed,
        "model": model,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1m_at_start": os.getloadavg()[0],
        },
        "versions": versions,
        "git_commit": _git_commit(),
        "goal": {"rps_ratio_min": GOAL_RPS_RATIO, "p99_ratio_max": GOAL_P99_RATIO},
    }


def _git_commit() -> str | None:
    completed = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() or None


def format_settings(settings: dict[str, Any]) -> str:
    """Describe the server and the load in two lines."""
    generator = settings["generator_version"]
    if settings["wrk_threads"]:
        generator += f", {settings['wrk_threads']} thread(s)"
    model = settings["model"]
    return (
        f"server: {settings['workers']} worker(s), event loop {settings['loop']}, HTTP parser {settings['http']}; "
        f"model {model['class']} {model['version']} ({model['users']:,} users, {model['items']:,} items)\n"
        f"load: {generator}, {settings['concurrency']} connections, {settings['duration_s']:g} s per endpoint "
        f"after {settings['warmup_s']:g} s of warm-up, {settings['machine']['cores']} cores"
    )


def format_row(row: dict[str, Any]) -> str:
    """Describe one endpoint's result in a line."""
    return (
        f"{row['endpoint']}: {row['rps']:,.0f} requests/s, p50 {row['p50_ms']:.2f} ms, "
        f"p99 {row['p99_ms']:.2f} ms, {row['errors']} errors"
    )


def format_table(rows: list[dict[str, Any]]) -> str:
    """Return the rows as a Markdown table."""
    lines = [
        "| endpoint | requests/s | p50 ms | p99 ms | errors | server CPU ms/request |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cpu = row["server_cpu_ms_per_request"]
        lines.append(
            f"| `{row['endpoint']}` | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['errors']} | {'n/a' if cpu is None else f'{cpu:.3f}'} |"
        )
    return "\n".join(lines)


def format_ratios(ratios: list[dict[str, Any]]) -> str:
    """Return each recommend endpoint's ratios to GET /healthz as a Markdown table, with the goal."""
    lines = [
        f"Goal: a recommend endpoint serves >= {GOAL_RPS_RATIO}x the requests/s of GET /healthz "
        f"with p99 <= {GOAL_P99_RATIO:g}x its p99, and no errors.",
        "",
        "| endpoint | requests/s vs /healthz | p99 vs /healthz | goal met |",
        "|---|---:|---:|---|",
    ]
    for ratio in ratios:
        lines.append(
            f"| `{ratio['endpoint']}` | {ratio['rps_ratio']:.2f}x | {ratio['p99_ratio']:.2f}x | "
            f"{'yes' if ratio['goal_met'] else 'no'} |"
        )
    return "\n".join(lines)


def write_results(
    path: Path, settings: dict[str, Any], rows: list[dict[str, Any]], ratios: list[dict[str, Any]]
) -> None:
    """Write the settings, the rows and the ratios as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"settings": settings, "fields": ROW_FIELDS, "rows": rows, "ratios": ratios}
    path.write_text(json.dumps(_without_nan(document), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _without_nan(value: Any) -> Any:
    """Return ``value`` with NaN floats (a percentile of no requests) replaced by None, which JSON has."""
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nan(item) for item in value]
    if isinstance(value, float) and value != value:
        return None
    return value


if __name__ == "__main__":
    sys.exit(main())
