"""The domain core: tickets, routing, timers, texts, and the actions that alone write them.
Rule: imports no web framework, broker, provider library, channel, web or entry point.
"""
