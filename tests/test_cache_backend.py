"""The Redis cache backend shares one client per process across cache handles."""

from __future__ import annotations

from hitlnext_project.shared.cache import RedisCache

PARAMS = {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}


def test_handles_of_one_configuration_share_one_client():
    # Django builds a handle per thread and per ASGI request context; each used to open its
    # own pool, so every request paid a new Redis connection.
    first = RedisCache("redis://127.0.0.1:6379/10", PARAMS)
    second = RedisCache("redis://127.0.0.1:6379/10", PARAMS)
    assert first is not second
    assert first._cache is second._cache
    assert first._cache._get_connection_pool(True) is second._cache._get_connection_pool(True)


def test_another_configuration_gets_its_own_client():
    first = RedisCache("redis://127.0.0.1:6379/10", PARAMS)
    other = RedisCache("redis://127.0.0.1:6379/11", PARAMS)
    assert first._cache is not other._cache


def test_incr_counts_existing_keys_and_refuses_missing_ones(settings):
    import pytest

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}-incr-test"
    cache = RedisCache(settings.REDIS_URL, {**PARAMS, "KEY_PREFIX": prefix})
    cache.delete("n")
    with pytest.raises(ValueError):
        cache.incr("n")
    assert cache.get("n") is None  # a refused incr creates nothing
    cache.add("n", 0, timeout=60)
    assert cache.incr("n") == 1
    assert cache.incr("n", 5) == 6
    assert cache.get("n") == 6
    cache.delete("n")
