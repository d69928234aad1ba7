"""Channel adapters: translate one provider's traffic to the core's inbound and outbound messages.
Rule: a channel imports the core (`hub`) and the plumbing (`runtime`), never the web (`agent_ui`) or an entry point.

Adding a channel: create `channels/<name>/` (webhook or poller, pure parser, sender,
fixtures) exposing one `CHANNEL = channels.base.Channel(...)`, declare its rules in
`hub.channel_rules`, and add one line to `CHANNELS` in `entrypoints/bootstrap.py`.
"""
