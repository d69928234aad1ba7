"""Channel adapters. Each channel is one folder with an `adapter(settings)` factory.

Adding a channel: create `channels/<name>/` (webhook or poller, pure parser, sender,
fixtures), declare its rules in `hub.channel_rules`, and add one line to `INSTALLED` below.
"""

from __future__ import annotations

import importlib

from channels.base import Adapter
from hub.config import Settings

INSTALLED: list[str] = [
    "channels.phone",
    "channels.whatsapp",
    "channels.email",
]


def load_adapters(settings: Settings) -> list[Adapter]:
    """Build every installed channel's adapter and register its sender with the core."""
    from hub.delivery import register_sender

    adapters = []
    for module_name in INSTALLED:
        adapter: Adapter = importlib.import_module(module_name).adapter(settings)
        if adapter.sender is not None:
            register_sender(adapter.name, adapter.sender)
        if adapter.tasks_module:  # its actors join the broker set up by the runtime
            importlib.import_module(adapter.tasks_module)
        adapters.append(adapter)
    return adapters
