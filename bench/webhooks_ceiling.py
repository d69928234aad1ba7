"""The hub's WhatsApp webhook against the lean reference app, same wrk command, same PostgreSQL.

    .venv/bin/python bench/webhooks_ceiling.py [--duration 15] [--connections 64] [--interval 64]
                                               [--rounds 1] [--reference DIR] [--only hub|reference]

The reference is `../shared/bench-ceiling/app.py` (`MODE=pg`: parse the form, check the Twilio
signature, one autocommitted asyncpg INSERT, empty TwiML; see its README). Both apps run under
the same uvicorn command (2 workers, uvloop, httptools), each on a fresh PostgreSQL database, the
hub as in production (dramatiq on Redis, nothing consuming). For each app, one after the other:
a warm-up, then `wrk` saturated (`-c` connections, no think time), then `wrk` paced (each
connection waits an exponential think time of mean `--interval` ms: about 1,000/s with 64
connections). Every request carries its own signed body (distinct MessageSid), the same bodies
for both apps. After each run the rows are counted: every 200 must have its row. Prints both
apps' figures, the ratios, each worker's RSS and the load average. Needs `wrk` (apt-get
install wrk). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.queue_api import fresh_database  # noqa: E402

# The reference's own signing secret, URL and account (gen_bodies.py): the hub is configured
# with them, so the very same bodies are genuine for both apps.
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC_URL = "https://hub.example.com"
ACCOUNT_SID = "AC" + "f" * 32
PATH = "/webhooks/twilio/whatsapp"
REDIS_URL = "redis://127.0.0.1:6379/14"
PORT = 18951
UVICORN = ["--host", "127.0.0.1", "--port", str(PORT), "--workers", "2", "--loop", "uvloop", "--http", "httptools",
           "--no-access-log", "--log-level", "warning"]


def reference_dir(given: str | None) -> Path:
    candidates = [Path(given)] if given else [ROOT.parent / "shared" / "bench-ceiling",
                                              ROOT.parent.parent / "shared" / "bench-ceiling"]
    for path in candidates:
        if (path / "app.py").exists():
            return path.resolve()
    raise SystemExit(f"the reference app is not in {', '.join(map(str, candidates))} (--reference DIR)")


def write_bodies(directory: Path, n: int, tag: str) -> None:
    """n distinct signed bodies as `signature<TAB>body` lines (what the wrk scripts read)."""
    import base64
    import hashlib
    import hmac
    import random

    rnd = random.Random(tag)
    words = "hola hello thanks order status please when tomorrow invoice price delivery address help".split()
    key = AUTH_TOKEN.encode()
    url = PUBLIC_URL + PATH
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "bodies.0.tsv", "w") as out:
        for i in range(n):
            sid = f"SM{tag}{i:0{32 - len(tag)}x}"
            phone = "+34" + "".join(rnd.choice("0123456789") for _ in range(9))
            form = {
                "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": rnd.choice(["Ana", "Luis", "María José", "Zoë"]),
                "MessageType": "text", "SmsSid": sid, "WaId": phone[1:], "SmsStatus": "received",
                "Body": " ".join(rnd.choice(words) for _ in range(rnd.randint(3, 25))), "To": "whatsapp:+14155238886",
                "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": ACCOUNT_SID,
                "From": "whatsapp:" + phone, "ApiVersion": "2010-04-01",
            }
            # Twilio's scheme (RequestValidator.compute_signature): URL + sorted name+value, HMAC-SHA1.
            signed = url + "".join(k + form[k] for k in sorted(form))
            signature = base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha1).digest()).decode()
            out.write(f"{signature}\t{urlencode(form)}\n")


async def run_sql(url: str, sql: str) -> list[tuple[object, ...]]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql))
            return [tuple(r) for r in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()


def wait_port(proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def worker_pids(pid: int) -> list[int]:
    """The uvicorn workers: the children of the supervisor `pid` but multiprocessing's helper."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(int(child))
        except OSError:
            continue
    return out


def workers_cpu_s(pid: int) -> float:
    """User + system CPU seconds the workers have used so far (load-proof, unlike wall times)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for child in worker_pids(pid):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def workers_rss_mb(pid: int) -> list[float]:
    """VmRSS of each uvicorn worker."""
    out = []
    for child in worker_pids(pid):
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                out.append(int(line.split()[1]) / 1024)
    return out


def wrk(script: Path, bodies: Path, duration: int, connections: int, interval: int | None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script),
               f"http://127.0.0.1:{PORT}{PATH}"]
    if interval is not None:
        command += ["--", str(interval)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PERF_DIR": str(bodies)})
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])  # type: ignore[no-any-return]
    raise SystemExit(f"wrk said:\n{done.stdout}\n{done.stderr}")


def run_app(which: str, ref: Path, work: Path, args: argparse.Namespace, round_: int) -> dict[str, object]:
    """`which`: "reference", "hub" (this checkout) or "hub@DIR" (another checkout, e.g. main's)."""
    if which == "reference":
        name, table = "hub_bench_ceiling_ref", "inbound_message"
        db_url = asyncio.run(fresh_database(args.postgres, name))
        for statement in filter(None, (s.strip() for s in (ref / "schema_pg.sql").read_text().split(";"))):
            asyncio.run(run_sql(db_url, statement))
        dsn = db_url.replace("postgresql+asyncpg://", "postgresql://")
        env = {**os.environ, "MODE": "pg", "PG_DSN": dsn, "PYTHONPATH": str(ref)}
        command = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(ref), *UVICORN]
        cwd = ROOT
    else:
        import redis

        from hub.db.migrate import upgrade

        name, table = "hub_bench_ceiling_hub", "inbox"
        root = Path(which.partition("@")[2] or ROOT)
        db_url = asyncio.run(fresh_database(args.postgres, name))
        upgrade(db_url)
        redis.Redis.from_url(REDIS_URL).flushdb()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(
            PYTHONPATH=str(root), HUB_DATABASE_URL=db_url, HUB_BROKER_URL=REDIS_URL, HUB_PUBLIC_URL=PUBLIC_URL,
            HUB_SECRET_KEY="bench-secret-key-0123456789abcdef", HUB_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            HUB_TWILIO_AUTH_TOKEN=AUTH_TOKEN, HUB_TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
            HUB_LOG_LEVEL="WARNING", HUB_DATA_DIR=str(work / "hub-data"),
        )
        # bench/webhooks.py's factory: what `hub web` serves, built from the HUB_* environment.
        command = [sys.executable, "-m", "uvicorn", "--factory", "bench.webhooks:app_factory", *UVICORN]
        cwd = root
    server = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    count = f"SELECT count(*) FROM {table}"
    try:
        wait_port(server)
        time.sleep(2.0)  # both workers up
        wrk(ref / "twilio.lua", work / f"warm{round_}", 3, args.connections, None)
        before = asyncio.run(run_sql(db_url, count))[0][0]
        spies = []
        if args.profile:  # py-spy on each worker during the saturated run: collapsed stacks
            spy = Path(sys.executable).parent / "py-spy"
            for pid in worker_pids(server.pid):
                out = Path(args.profile) / f"{which.replace('/', '_')}-{round_}-{pid}.txt"
                spies.append(subprocess.Popen([str(spy), "record", "--format", "raw", "--rate", "200", "--nonblocking",
                                               "--duration", str(args.duration), "--pid", str(pid), "-o", str(out)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        cpu0 = workers_cpu_s(server.pid)
        saturated = wrk(ref / "twilio.lua", work / f"sat{round_}", args.duration, args.connections, None)
        cpu1 = workers_cpu_s(server.pid)
        for spy_proc in spies:
            spy_proc.wait(30)
        middle = asyncio.run(run_sql(db_url, count))[0][0]
        paced = wrk(ref / "paced.lua", work / f"paced{round_}", args.duration, args.connections, args.interval)
        cpu2 = workers_cpu_s(server.pid)
        after = asyncio.run(run_sql(db_url, count))[0][0]
        rss = workers_rss_mb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    saturated["rows"] = int(middle) - int(before)  # type: ignore[call-overload]
    paced["rows"] = int(after) - int(middle)  # type: ignore[call-overload]
    saturated["cpu_ms"] = 1000 * (cpu1 - cpu0) / max(1, saturated["requests"])
    paced["cpu_ms"] = 1000 * (cpu2 - cpu1) / max(1, paced["requests"])
    return {"saturated": saturated, "paced": paced, "rss": rss, "load": os.getloadavg()}


def line(label: str, run: dict[str, float]) -> str:
    ok = int(run["requests"] - run["err_status"])
    errors = int(run["err_status"] + run["err_connect"] + run["err_read"] + run["err_write"] + run["err_timeout"])
    verdict = "every 200 has its row" if run["rows"] >= ok else "ROWS MISSING"
    return (f"{label:<22} {run['rps']:8.0f}/s  p50 {run['p50_ms']:6.1f}  p90 {run['p90_ms']:6.1f}  "
            f"p99 {run['p99_ms']:6.1f}  max {run['max_ms']:7.1f} ms  errors {errors}  rows {run['rows']} ({verdict})  "
            f"worker CPU {run['cpu_ms']:.2f} ms/request")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run (default 15, max 120)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--interval", type=int, default=64, help="paced: mean think time per connection, ms")
    parser.add_argument("--rounds", type=int, default=1, help="reference then hub, this many times")
    parser.add_argument("--only", choices=["hub", "reference"], help="run one app alone (profiling)")
    parser.add_argument("--compare", metavar="DIR", help="also run the hub of another checkout (e.g. /work/main): "
                        "before and after a change in the same run")
    parser.add_argument("--profile", metavar="DIR", help="py-spy each worker during the saturated run (needs py-spy)")
    parser.add_argument("--reference", help="the bench-ceiling directory (default ../shared/bench-ceiling)")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    args.duration = min(args.duration, 120)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    ref = reference_dir(args.reference)
    apps = [args.only] if args.only else ["reference", "hub"]
    if args.compare:
        apps.append(f"hub@{Path(args.compare).resolve()}")
    work = Path(tempfile.mkdtemp(prefix="hub-ceiling-"))
    try:
        n = max(20_000, 6_000 * args.duration)  # beyond any rate this box reaches: no body repeats
        print(f"signing {3 * args.rounds} x {n:,} distinct bodies ...", flush=True)
        for r in range(args.rounds):
            write_bodies(work / f"warm{r}", 20_000, f"w{r}")
            write_bodies(work / f"sat{r}", n, f"s{r}")
            write_bodies(work / f"paced{r}", n, f"p{r}")
        results: dict[str, list[dict[str, object]]] = {app: [] for app in apps}
        for r in range(args.rounds):
            for app in apps:
                print(f"round {r + 1}: {app} ...", flush=True)
                results[app].append(run_app(app, ref, work, args, r))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s; paced: exponential think time, mean {args.interval} ms "
          f"per connection")
    for r in range(args.rounds):
        for app in apps:
            got = results[app][r]
            print(line(f"{app} saturated", got["saturated"]))  # type: ignore[arg-type]
            print(line(f"{app} paced", got["paced"]))  # type: ignore[arg-type]
            print(f"{app:<22} worker RSS {', '.join(f'{x:.0f}' for x in got['rss'])} MB;"  # type: ignore[attr-defined]
                  f" load average after {' '.join(f'{x:.1f}' for x in got['load'])}")  # type: ignore[attr-defined]
        if "reference" in results:
            reference = results["reference"][r]
            for app in apps[1:]:
                hub = results[app][r]
                ratio = hub["saturated"]["rps"] / reference["saturated"]["rps"]  # type: ignore[index]
                p99 = hub["paced"]["p99_ms"] / reference["paced"]["p99_ms"]  # type: ignore[index]
                cpu = reference["saturated"]["cpu_ms"] / hub["saturated"]["cpu_ms"]  # type: ignore[index]
                print(f"round {r + 1}: {app}/reference throughput {ratio:.1%} (target >= 85 %); "
                      f"paced p99 {p99:.2f}x the reference's (target <= 1.3x); "
                      f"CPU per request: the reference's is {cpu:.1%} of this one's")
    print(f"{os.cpu_count()} cores; load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
