"""The Faust internals the batch path replaces or relies on, pinned by a hash of their source.

The batch consumer overrides Faust's drain loop and writes acknowledgements
into Faust's offset bookkeeping in bulk. Both depend on how faust-streaming
0.15.3 does things inside, which no public API promises. So the source of every
upstream function involved is hashed here; a worker refuses to start and a test
fails when any of them changes, instead of a silent miscount after an upgrade.

After upgrading Faust: read the diff of each changed function, adapt
``streams/batching/consumer.py`` to it, then refresh the pins with
``python -m streams.batching.upstream`` and paste its output over ``PINNED``.

>>> check_upstream() == []
True
"""

from __future__ import annotations

import hashlib
import importlib
import inspect

from streams.batching.errors import UpstreamDrift

__all__ = ["FAUST_VERSION", "PINNED", "source_hash", "current_hashes", "check_upstream", "require_upstream"]

FAUST_VERSION = "0.15.3"

#: "module:qualified.name" -> sha256 of the source, first 16 hex digits.
PINNED: dict[str, str] = {
    # replaced: the per-message drain loop (our override hands chunks to lanes)
    "faust.transport.consumer:Consumer._drain_messages": "44a2500309e83c63",
    # mirrored: generation and flow checks of the per-message fetch path
    "faust.transport.consumer:Consumer.getmany": "4b168d84882a70d6",
    # mirrored in bulk: what acknowledging one offset does to the bookkeeping
    "faust.transport.consumer:Consumer.ack": "5fcf41cf45153475",
    # relied on: how acknowledged offsets become the committed offset
    "faust.transport.consumer:Consumer._new_offset": "1d2c7ea89a7ad4f1",
    "faust.transport.consumer:Consumer._add_gap": "4df2573ded7c1c2c",
    "faust.transport.consumer:Consumer._wait_next_records": "6218e1969a636b3f",
    "faust.transport.consumer:Consumer.perform_seek": "0e8c130ff4b0afd8",
    "faust.transport.consumer:Consumer.seek": "b86a9fe05f956b30",
    "faust.transport.consumer:Consumer.commit": "a354437baaa08bf8",
    # extended: revocation clears the bookkeeping of revoked partitions
    "faust.transport.consumer:Consumer.on_partitions_revoked": "d04b7ae72c6fc206",
    "faust.transport.consumer:Consumer.on_stop": "45b1d2210ce2b526",
    "faust.transport.consumer:Fetcher._fetcher": "68f894f0b577d810",
    # relied on: the generation id is set when partitions are assigned
    "faust.transport.drivers.aiokafka:ConsumerRebalanceListener.on_partitions_assigned": "1c1f8406ad3698a6",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._fetch_records": "39a2c6c79fc1455a",
    "faust.transport.drivers.aiokafka:Consumer._to_message": "7c24f6511b2fcef7",
    # relied on: the app waits for streams, then commits, on revocation
    "faust.app.base:App._on_partitions_revoked": "d5c895bbe57dc73a",
    # relied on: a topic added to the conductor is subscribed with acks enabled
    "faust.transport.conductor:Conductor.add": "9944e209d2cc2250",
    "faust.transport.conductor:Conductor._update_indices": "619b3247b96ac7d5",
}


def _resolve(name: str) -> object:
    module_name, _, qualname = name.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def source_hash(obj: object) -> str:
    # mode's @Service.task wraps the coroutine function in a ServiceTask holding it as ``fun``
    obj = getattr(obj, "fun", obj)
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def current_hashes() -> dict[str, str]:
    return {name: source_hash(_resolve(name)) for name in PINNED}


def check_upstream(pinned: dict[str, str] | None = None) -> list[str]:
    """Names whose installed source differs from the pin (empty when all match)."""
    pinned = PINNED if pinned is None else pinned
    changed = []
    for name, expected in pinned.items():
        try:
            actual = source_hash(_resolve(name))
        except (AttributeError, ImportError, OSError, TypeError):
            actual = "missing"
        if actual != expected:
            changed.append(name)
    return changed


def require_upstream() -> None:
    """Raise ``UpstreamDrift`` naming every changed function."""
    changed = check_upstream()
    if changed:
        import faust

        raise UpstreamDrift(
            f"faust-streaming {faust.__version__} differs from {FAUST_VERSION}, which the batch consumer "
            f"was built on, in: {', '.join(changed)}. Pin faust-streaming=={FAUST_VERSION} or review those "
            f"functions against streams/batching/consumer.py and refresh streams/batching/upstream.py PINNED."
        )


if __name__ == "__main__":
    for name, digest in current_hashes().items():
        print(f'    "{name}": "{digest}",')
