"""Plumbing every app may use and that knows no app: the rate limiter, the Redis cache and
channel layer, and the helpers that push HTML to sockets and announce what happened.

Nothing here imports an app (the import-linter contract in pyproject.toml checks it).
"""
