"""The web: agents' pages, the JSON API, the citizen simulator (Litestar controllers and templates).
Rule: imports the core (`hub`) and plumbing (`runtime`) and may read a channel's constants; never an entry point.
"""
