"""Django's PostgreSQL backend, recovering from a server restart at once (see base.py)."""
