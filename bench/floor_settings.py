"""The floors' settings: hitlnext's own (same middleware, same channel layer), other URLs.

A floor is what Django, Daphne and Channels cost on this machine without hitlnext's work;
each benchmark prints hitlnext beside the floor measured in the same run.
"""

from hitlnext_project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
