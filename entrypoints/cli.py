"""The `hub` command line: one process for everything, or one job per process in production.

Every process starts with `entrypoints.bootstrap.bootstrap(settings, role)`; the channels'
own subcommands (e.g. `hub mailbox`) come from their `Channel.commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hub.config import ConfigError, Settings, load_settings, resolve_secret_key
from runtime import offload

log = logging.getLogger("hub")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def follow_port(settings: Settings, host: str, port: int) -> None:
    """`hub run` with no HUB_PUBLIC_URL: the public URL (survey links, signature checks) is where
    it listens, not the default port (`--port 8731` sends links to port 8731). `hub web` runs
    behind a proxy, whose outside address only HUB_PUBLIC_URL can tell."""
    if "public_url" in settings.model_fields_set:
        return
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::", "127.0.0.1", "localhost") else host
    if ":" in shown:
        shown = f"[{shown}]"
    settings.public_url = f"http://{shown}:{port}"


def _setup_logging(level: str = "INFO", process: str = "") -> None:
    from runtime.logs import setup_logging  # text, or JSON lines with HUB_LOG_FORMAT=json

    setup_logging(level, process)


def _migrate(settings: Settings) -> None:
    from hub.db.migrate import upgrade

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    _migrate(settings)
    print("database schema is up to date")
    return 0


def _serve(settings: Settings, host: str, port: int, embedded: bool, on_ready: Callable[[], None] | None) -> None:
    import uvicorn

    from entrypoints.bootstrap import settle_heap
    from entrypoints.web import create_app

    app = create_app(settings, embedded=embedded)
    settle_heap()  # the app's routes, tables and libraries stay: no collection walks them again
    from runtime.logs import reinstall

    reinstall()  # Litestar configured logging when the app was made: the hub's format wins
    # log_config=None: uvicorn's own lines go through the hub's handler (text or JSON).
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", proxy_headers=True,
                            log_config=None)
    server = uvicorn.Server(config)
    # uvicorn re-raises SIGTERM after its graceful shutdown, which would make a clean stop
    # look like a crash to systemd and to tests; handle the signals here instead.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started and on_ready:
            on_ready()
        await task

    asyncio.run(main())


def cmd_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = _settings()
    follow_port(settings, args.host, args.port)
    _migrate(settings)
    from entrypoints.demo import ensure_demo_logins, seed_demo

    logins = asyncio.run(ensure_demo_logins(settings))
    if args.demo:
        asyncio.run(seed_demo(settings))

    def ready() -> None:
        url = f"http://{args.host}:{args.port}"
        print(f"\nContact hub is running at {url}  (started in {time.monotonic() - started:.1f} s)")
        print("Logins:")
        for email, role, password in logins:
            print(f"  {role:<8} {email:<28} {password}")
        from channels.whatsapp.config import load_whatsapp_settings

        if not load_whatsapp_settings().twilio_configured:
            print(f"WhatsApp runs in sandbox mode: play the citizen at {url}/simulator")
        print("Press Ctrl+C to stop.", flush=True)

    _serve(settings, args.host, args.port, embedded=True, on_ready=ready)
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    settings = _settings()
    _serve(settings, args.host, args.port, embedded=False,
           on_ready=lambda: print(f"hub web listening on {args.host}:{args.port}", flush=True))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        resolve_secret_key(settings, embedded=False)  # it signs email Message-IDs
    except ConfigError as exc:
        print(f"hub worker: {exc}", file=sys.stderr)
        return 2
    from dramatiq import Worker

    from entrypoints.bootstrap import bootstrap, settle_heap

    broker = bootstrap(settings, "worker").broker
    if not settings.broker_url:
        print("hub worker: HUB_BROKER_URL is not set; with the in-process broker use `hub run`", file=sys.stderr)
        return 2
    worker = Worker(broker, worker_threads=args.threads)
    settle_heap()
    worker.start()
    print(f"hub worker running ({args.threads} threads)", flush=True)
    _wait_for_signal()
    worker.stop(timeout=10_000)
    offload.drain()  # what the last actors enqueued reaches the broker before we exit
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    settings = _settings()
    from entrypoints.bootstrap import bootstrap
    from runtime.scheduler import run_scheduler

    hub = bootstrap(settings, "scheduler")

    async def main() -> None:
        ctx = hub.context()
        stop = _stop_on_signals()
        print("hub scheduler running", flush=True)
        await run_scheduler(ctx, stop, hub.sweep_jobs)
        offload.drain()
        await ctx.close()

    asyncio.run(main())
    return 0


def cmd_channel(args: argparse.Namespace) -> int:
    """A channel's own process (e.g. `hub mailbox`): its command's service until SIGTERM/SIGINT."""
    from entrypoints.bootstrap import bootstrap, command_channel, settle_heap

    settings = _settings()
    channel, command = command_channel(args.command)
    own = channel.settings()  # a ConfigError stops here, naming the variable
    problem = command.preflight(settings, own)
    if problem:
        print(f"hub {command.name}: {problem}", file=sys.stderr)
        return 2
    hub = bootstrap(settings, command.name)
    settle_heap()  # as hub worker: a mailbox catching up makes many objects, whose collections need not walk these

    async def main() -> None:
        ctx = hub.context()
        stop = _stop_on_signals()
        try:
            await command.run(settings, own, ctx, stop)
        finally:
            await ctx.close()

    asyncio.run(main())
    return 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def cmd_agents_add(args: argparse.Namespace) -> int:
    settings = _settings()
    from hub.actions.agents import do_create_agent
    from hub.actions.errors import DomainError
    from hub.context import HubContext
    from hub.passwords import generate_password

    password = None if sys.stdin.isatty() else sys.stdin.readline().strip()
    generated = not password
    password = password or generate_password()

    async def main() -> int:
        from hub.actions.accounts import check_new_password

        check_new_password(password, name=args.name, email=args.email)
        ctx = HubContext.create(settings)
        try:
            return await do_create_agent(ctx, args.email, args.name, args.role, password, capacity=args.capacity)
        finally:
            await ctx.close()

    try:
        agent_id = asyncio.run(main())
    except DomainError as exc:
        print(f"hub agents add: {exc}", file=sys.stderr)
        return 1
    print(f"agent {agent_id} created: {args.email} ({args.role})")
    if generated:
        print(f"password: {password}")
    return 0


def _wait_for_signal() -> None:
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    while not received:
        time.sleep(0.2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Omnichannel contact hub for citizen-help offices")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_address(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)

    p = sub.add_parser("run", help="everything in one process on embedded defaults")
    with_address(p)
    p.add_argument("--demo", action="store_true", help="also seed sample agents and consultations")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("web", help="the web server (UI, API, webhooks)")
    with_address(p)
    p.set_defaults(func=cmd_web)
    p = sub.add_parser("worker", help="background work: deliveries, inbound processing")
    p.add_argument("--threads", type=int, default=8)
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("scheduler", help="timers and relays (one active at a time)")
    p.set_defaults(func=cmd_scheduler)
    p = sub.add_parser("migrate", help="bring the database schema up to date")
    p.set_defaults(func=cmd_migrate)
    agents = sub.add_parser("agents", help="manage logins").add_subparsers(dest="agents_command", required=True)
    p = agents.add_parser("add", help="create a login; password from stdin or generated and printed")
    p.add_argument("email")
    p.add_argument("--name", required=True)
    p.add_argument("--role", default="agent", choices=["agent", "manager", "admin"])
    p.add_argument("--capacity", type=int, default=5)
    p.set_defaults(func=cmd_agents_add)
    from entrypoints import check, stats_cli
    from entrypoints.bootstrap import CHANNELS

    for channel in CHANNELS:
        for command in channel.commands:
            p = sub.add_parser(command.name, help=command.help)
            command.arguments(p)
            p.set_defaults(func=cmd_channel)
    check.add_command(sub)
    stats_cli.add_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(process=args.command)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # e.g. a channel's own settings, read when its adapter is built
        print(f"hub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
