"""Plumbing below the channels and the web: broker and actors, scheduler, live push, offload, metrics, logs.
Rule: imports the core (`hub`) only, never a channel (`channels`), the web (`agent_ui`) or an entry point.
"""
