"""`hub stats rebuild [--from DATE] [--to DATE] [--entry-points]`: rebuild the statistics roll-ups of
finished days.

The scheduler keeps roll-ups current on its own; this is for after a definition change, a late
correction older than the automatic re-roll window (7 days), or a restored backup.
`--entry-points` fills only the per-entry-point roll-ups of the days already rolled up (after the
upgrade that added them), reading only the consultations that came through an entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date such as 2026-03-01, got {value!r}") from None


def cmd_stats_rebuild(args: argparse.Namespace) -> int:
    from hub.config import ConfigError, load_settings
    from hub.context import HubContext
    from hub.rollups import build_entry_points, rebuild

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2

    async def main() -> tuple[date, date, int]:
        ctx = HubContext.create(settings)
        try:
            if args.entry_points:
                first, last = args.date_from or date.min, args.date_to or date.max
                return first, last, await build_entry_points(ctx, first, last)
            return await rebuild(ctx, args.date_from, args.date_to)
        finally:
            await ctx.close()

    started = time.monotonic()
    first, last, days = asyncio.run(main())
    if days == 0:
        print("nothing to rebuild (no finished day in the range)")
    else:
        span = "" if args.entry_points and not (args.date_from or args.date_to) else f" ({first} to {last})"
        what = "the entry point roll-ups of " if args.entry_points else ""
        print(f"rebuilt {what}{days} days{span} in {time.monotonic() - started:.1f} s")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stats = sub.add_parser("stats", help="statistics roll-ups").add_subparsers(dest="stats_command", required=True)
    p = stats.add_parser("rebuild", help="rebuild the roll-ups of finished office days")
    p.add_argument("--from", dest="date_from", type=_date, default=None, help="first office date (default: the first event)")
    p.add_argument("--to", dest="date_to", type=_date, default=None, help="last office date (default: yesterday)")
    p.add_argument("--entry-points", action="store_true",
                   help="only the per-entry-point roll-ups of the days already rolled up (after upgrading to them)")
    p.set_defaults(func=cmd_stats_rebuild)
