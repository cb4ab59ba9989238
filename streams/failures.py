"""The one line a long-running service ends with when a store it needs fails under it.

The dispatcher and the outcome worker stop on a lost Redis (exit 1; the orchestrator restarts them,
they resume from their committed offsets and the dispatcher's claims keep a command from being sent twice). They used to end with a bare traceback and no line
saying what failed; this is that line, in the words of the worker's own ("...; restart").
"""

from __future__ import annotations

import redis.exceptions as redis_errors

from streams.health import _scrub, _secrets, masked_url
from streams.settings import Settings

__all__ = ["REDIS_LOST", "redis_failure"]

#: Redis gone or not serving (down, unreachable, too slow, a replica after a failover, a cluster without a
#: master): a restart is the cure. Every other RedisError (a bad value, a broken script, a key of the wrong
#: type) is a bug of ours and must end with its traceback, not with a line blaming Redis.
REDIS_LOST = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.ReadOnlyError,
              redis_errors.MasterDownError, redis_errors.ClusterDownError, redis_errors.TryAgainError)


def redis_failure(settings: Settings, exc: BaseException, service: str) -> str:
    """What failed, where, and what happens next; the password of the URL never in it.

    >>> s = Settings(kafka_bootstrap_servers="k:9092", redis_url="redis://u:s3cret@10.0.0.7:6379/0")
    >>> redis_failure(s, ConnectionError("Error 111 connecting to 10.0.0.7:6379 (s3cret)"), "dispatcher")
    'dispatcher stopped: Redis at redis://u:***@10.0.0.7:6379/0 failed: ConnectionError: Error 111 connecting to 10.0.0.7:6379 (***); exit 1 to be restarted (safe: it resumes from its last committed offsets)'
    """
    url = settings.redis_url.get_secret_value()
    detail = _scrub(" ".join(f"{type(exc).__name__}: {exc}".split()), _secrets(settings))
    return (f"{service} stopped: Redis at {masked_url(url)} failed: {detail}; exit 1 to be restarted "
            "(safe: it resumes from its last committed offsets)")
