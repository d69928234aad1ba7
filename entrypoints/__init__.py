"""Entry points and the composition root: the `hub` command, `hub check`, the demo, `create_app`, `bootstrap`.
Rule: the only package that imports every other one (channels, web, plumbing); nothing imports it.
"""
