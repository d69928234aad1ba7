"""The dramatiq broker chosen by `HUB_BROKER_URL`: Redis, RabbitMQ, or in-process (StubBroker)."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage

from hub.config import Settings

_broker: dramatiq.Broker | None = None


def make_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.broker_url
    broker: dramatiq.Broker
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url, namespace="hub-tasks")
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    return broker


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """Install the broker and declare the actors on it (idempotent per process)."""
    global _broker
    if _broker is None:
        _broker = make_broker(settings)
        dramatiq.set_broker(_broker)
        from runtime import tasks  # noqa: F401  (declares the actors on this broker)
    return _broker


def broker_ready(broker: dramatiq.Broker) -> None:
    """Raise if the broker cannot be reached (used by /readyz)."""
    kind = type(broker).__name__
    if kind == "RedisBroker":
        broker.client.ping()  # type: ignore[attr-defined]
    elif kind == "RabbitmqBroker":
        broker.connection  # type: ignore[attr-defined]  # opens (or reuses) the connection


def reset_broker_for_tests() -> None:
    global _broker
    _broker = None
