"""A partition's outbox in Redis, shared by the detector and policy stores.

The outbox is a list appended to by the same script that stores state. The
publisher reads it, produces every entry and, once Kafka acknowledged them, drops
exactly those entries from the head — compared byte for byte, in one script. A
count-based trim would be wrong when two workers overlap on a partition (a
handler still running after its revocation timed out, beside the new owner):
one's trim would drop entries the other appended and never published. Here an
entry leaves the list only if it is the one that was published; at worst it is
published twice, with the same firing id or source offset.
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.outbox import OutboxRecord

__all__ = ["RedisOutbox"]

_TRIM = """
local n = 0
for i = 1, #ARGV do
  if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[i] then break end
  redis.call('LPOP', KEYS[1])
  n = n + 1
end
return n
"""


class RedisOutbox:
    """Mixin for a store with ``self.client`` and ``self.keys(partition).outbox``."""

    client: object
    _trim = None

    def _trim_script(self):
        if self._trim is None:
            self._trim = self.client.register_script(_TRIM)
        return self._trim

    def outbox_entries(self, partition: int) -> list[bytes]:
        """The encoded entries not yet confirmed as published, oldest first."""
        return self.client.lrange(self.keys(partition).outbox, 0, -1)

    def outbox(self, partition: int) -> list[OutboxRecord]:
        """The records not yet confirmed as published, oldest first."""
        return [OutboxRecord.decode(r) for r in self.outbox_entries(partition)]

    def confirm_published(self, partition: int, entries: Sequence[bytes]) -> int:
        """Drop ``entries`` (as read by ``outbox_entries``) from the head, each only if it is still there.

        Returns how many were dropped: fewer than given when another worker confirmed them first.
        """
        if not entries:
            return 0
        return int(self._trim_script()(keys=[self.keys(partition).outbox], args=list(entries)))
