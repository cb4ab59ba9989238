"""Refuse prefixed environment variables that name no setting, instead of ignoring them.

pydantic-settings reads only the names it knows, so a misspelt ``FOREWARN_IDEL_ADVANCE=0``
leaves idle advance on while the operator believes it off. The names a settings class
accepts are derived from the class itself (its prefix, ``__`` nesting, aliases, case
rule), so a new field is accepted without a second list to update.

>>> from streams.settings import NOT_SETTINGS, Settings
>>> env = {"FOREWARN_TOPICS__PARTITIONS": "8", "forewarn_idle_advance": "0", "FOREWARN_STATE_DIR": "/tmp/s",
...        "FOREWARN_DISPATCHER__CHANNEL_SECRETS__EMAIL": "...", "FOREWARN_TOPICS__PARTITONS": "8", "PATH": "/bin"}
>>> unknown_names(Settings, env, allowed=NOT_SETTINGS)
['FOREWARN_TOPICS__PARTITONS']
>>> print(describe_unknown(Settings, ["FOREWARN_TOPICS__PARTITONS", "FOREWARN_XYZZY"]))
FOREWARN_TOPICS__PARTITONS: no such setting (did you mean FOREWARN_TOPICS__PARTITIONS?); FOREWARN_XYZZY: no such setting (nothing close; unset it)
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import AliasChoices
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

__all__ = ["UnknownNameCheck", "UnknownSettingError", "describe_unknown", "service_links", "unknown_names"]


class UnknownSettingError(SettingsError):
    """A prefixed environment variable names no setting; the message names it (never its value)."""


@functools.cache
def _accepted(cls: type[BaseSettings]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Every variable name ``cls`` reads (case-folded unless the class is case sensitive), and the prefixes
    of its mapping settings, under which any key is a setting (e.g. a channel's secret by its name)."""
    fold = _fold(cls)
    prefix, delimiter = cls.model_config.get("env_prefix", ""), cls.model_config.get("env_nested_delimiter")
    names: set[str] = set()
    mappings: list[str] = []

    def walk(annotation: Any, name: str) -> None:
        names.add(fold(name))
        if not delimiter:
            return
        for member in _members(annotation):
            if typing.get_origin(member) is dict or member is dict:
                mappings.append(fold(name + delimiter))
            for field_name, field in getattr(member, "model_fields", {}).items():
                for key in (field_name, *_aliases(field)):
                    walk(field.annotation, name + delimiter + key)

    for field_name, field in cls.model_fields.items():
        aliases = _aliases(field)
        for name in aliases or [prefix + field_name]:
            walk(field.annotation, name)
    return frozenset(names), tuple(mappings)


def _fold(cls: type[BaseSettings]):
    return (lambda name: name) if cls.model_config.get("case_sensitive") else str.upper


def _aliases(field: Any) -> list[str]:
    """The environment names of an aliased field (pydantic-settings then adds no prefix)."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return []


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types an annotation allows (``X | None`` allows X)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


#: What Kubernetes sets, after ``<SERVICE>_SERVICE_HOST``, for every Service of a pod's namespace
#: (``enableServiceLinks``, on by default): a Service named ``forewarn-redis`` gives
#: ``FOREWARN_REDIS_SERVICE_HOST``, ``FOREWARN_REDIS_PORT``, ``FOREWARN_REDIS_PORT_6379_TCP_ADDR``...
_SERVICE_LINK_REST = re.compile(r"SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_[0-9]+_(TCP|UDP|SCTP)(_ADDR|_PORT|_PROTO)?")


def service_links(environ: Iterable[str]) -> set[str]:
    """The names among ``environ`` that Kubernetes set for a Service: not settings, and not typos.

    A group counts only with its ``<SERVICE>_SERVICE_HOST``, so a lone ``FOREWARN_METRIC_PORT`` stays a typo.

    >>> sorted(service_links(["FOREWARN_REDIS_SERVICE_HOST", "FOREWARN_REDIS_SERVICE_PORT", "FOREWARN_REDIS_PORT",
    ...                       "FOREWARN_REDIS_PORT_6379_TCP_ADDR", "FOREWARN_METRIC_PORT", "FOREWARN_REDIS_URL"]))
    ['FOREWARN_REDIS_PORT', 'FOREWARN_REDIS_PORT_6379_TCP_ADDR', 'FOREWARN_REDIS_SERVICE_HOST', 'FOREWARN_REDIS_SERVICE_PORT']
    """
    names = set(environ)
    services = {name[:-len("_SERVICE_HOST")] for name in names if name.endswith("_SERVICE_HOST")}
    return {name for name in names for service in services
            if name == f"{service}_SERVICE_HOST"
            or (name.startswith(f"{service}_") and _SERVICE_LINK_REST.fullmatch(name[len(service) + 1:]))}


def unknown_names(cls: type[BaseSettings], environ: Mapping[str, str], allowed: Iterable[str] = ()) -> list[str]:
    """The variables of ``environ`` that carry the settings prefix of ``cls`` (in any case, as pydantic-settings
    reads them) but name none of its settings, nor one of ``allowed`` (read by something else, spelt exactly),
    nor a Kubernetes Service's link (see :func:`service_links`)."""
    fold = _fold(cls)
    prefix = fold(cls.model_config.get("env_prefix", ""))
    names, mappings = _accepted(cls)
    allowed = set(allowed) | service_links(environ)
    return sorted(name for name in environ
                  if prefix and fold(name).startswith(prefix) and name not in allowed
                  and fold(name) not in names and not fold(name).startswith(mappings))


def describe_unknown(cls: type[BaseSettings], unknown: Iterable[str], allowed: Iterable[str] = ()) -> str:
    """One line naming each unknown variable and the closest name that would be read, if one is close."""
    problems = []
    for name in unknown:
        close = _closest(cls, name, tuple(allowed))
        problems.append(f"{name}: no such setting ({f'did you mean {close}?' if close else 'nothing close; unset it'})")
    return "; ".join(problems)


def _closest(cls: type[BaseSettings], name: str, allowed: tuple[str, ...]) -> str | None:
    """The known name ``name`` most likely meant: the one setting with its last part, placed elsewhere
    (``FOREWARN_PROTOCOL``), else the most similar name (compared without the prefix every name shares)."""
    fold = _fold(cls)
    prefix = fold(cls.model_config.get("env_prefix", ""))
    delimiter = cls.model_config.get("env_nested_delimiter") or "\0"
    names, mappings = _accepted(cls)
    known = sorted(n[len(prefix):] for n in (*names, *allowed) if n.startswith(prefix))
    key = fold(name)[len(prefix):]
    leaf = key.rpartition(delimiter)[2]
    moved = [n for n in known if n.rpartition(delimiter)[2] == leaf]
    if len(moved) == 1:
        return prefix + moved[0]
    # A mapping's keys are free, so offer the mapping with the key as given (CHANNEL_SECRET__EMAIL), when
    # what comes before the key looks like the mapping's own path.
    head = key.rpartition(delimiter)[0]
    keyed = [m[len(prefix):] + leaf for m in mappings
             if head and difflib.SequenceMatcher(None, head, m[len(prefix):].rstrip(delimiter)).ratio() >= 0.8]
    close = difflib.get_close_matches(key, known + keyed, n=1)
    return prefix + close[0] if close else None


class UnknownNameCheck(PydanticBaseSettingsSource):
    """A settings source that contributes no value: it raises :class:`UnknownSettingError` when the process
    environment holds a prefixed variable that no setting reads (``allowed``: the few read elsewhere)."""

    def __init__(self, settings_cls: type[BaseSettings], allowed: Iterable[str] = ()):
        super().__init__(settings_cls)
        self.allowed = tuple(allowed)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        unknown = unknown_names(self.settings_cls, os.environ, self.allowed)
        if unknown:
            raise UnknownSettingError(describe_unknown(self.settings_cls, unknown, self.allowed))
        names, _ = _accepted(self.settings_cls)
        fold = _fold(self.settings_cls)
        clashing = sorted(n for n in service_links(os.environ) if fold(n) in names)
        if clashing:  # e.g. a Service named forewarn-metrics sets FOREWARN_METRICS_PORT=tcp://10.96.0.12:9108
            raise UnknownSettingError(
                f"{', '.join(clashing)}: set by Kubernetes for a Service of the namespace, not a setting; "
                "set enableServiceLinks: false in the pod spec (the shipped manifests do) or rename the Service")
        return {}
