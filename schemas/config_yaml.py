"""Strict YAML for Forewarn's configuration: every value remembers its ``file:line:column``.

Support and success leads edit one YAML file; a typo there must stop start-up
with one line that names where it is and how to fix it, never a stack trace
or a silently ignored key. This module is the machinery every section parser
shares (triggers in ``detectors``, the catalogue and policy in
``interventions``): loading with marks, typed readers that fail with a
positioned :class:`ConfigError`, durations, and a document loader that gives
each top-level section to its own parser and rejects the sections nobody
claimed.

>>> doc = load_yaml_text("triggers:\\n  stalled:\\n    within: 7 days\\n", "f.yaml")
>>> doc.as_map().require("triggers").as_map().require("stalled").as_map().require("within").as_duration()
Traceback (most recent call last):
...
schemas.config_yaml.ConfigError: f.yaml:3:13: triggers.stalled.within: '7 days' is not a duration; write a whole number and a unit, e.g. 7d, 12h, 5m or 30s (units w, d, h, m, s; combine largest first: 1d12h)
>>> parse_duration("1d12h") == 36 * 3600 * 1_000_000
True
>>> format_duration(parse_duration("30d"))
'30d'
"""

from __future__ import annotations

import difflib
import io
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from schemas.errors import ForewarnError

__all__ = [
    "ConfigError",
    "Mark",
    "Node",
    "MapNode",
    "Section",
    "load_yaml",
    "load_yaml_text",
    "load_document",
    "parse_duration",
    "format_duration",
    "MAX_DURATION_US",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "MAX_DEPTH",
    "excerpt",
]

_UNIT_US = {"w": 7 * 86_400_000_000, "d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000}
#: The longest duration a config may give (ten years of 365 days).
MAX_DURATION_US = 3650 * 86_400_000_000
#: The largest config file read (a real one is a few kilobytes); larger files, and anything but a regular
#: file (a FIFO would block the reader forever, /dev/zero never ends), are refused before reading.
MAX_FILE_BYTES = 10 * 1024 * 1024
#: The most values (keys, items and scalars) a document may hold once its aliases are expanded: YAML
#: aliases can make a 1 kB file stand for gigabytes ("billion laughs"), which every copy of a template expands.
MAX_VALUES = 100_000
#: The most text a document may hold once its aliases are expanded (the same as the largest file).
MAX_TEXT_CHARS = MAX_FILE_BYTES
#: How deeply mappings and lists may nest (a config needs about six levels).
MAX_DEPTH = 64
# [0-9], not \d: \d accepts any script's digits (１７d, ١٠ of ١٤), which nobody means in a config file.
_DURATION = re.compile(r"(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_DURATION_HINT = (
    "write a whole number and a unit, e.g. 7d, 12h, 5m or 30s "
    "(units w, d, h, m, s; combine largest first: 1d12h)"
)


class ConfigError(ForewarnError):
    """A configuration mistake; the message starts with ``file:line:column: `` and says the fix."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in a configuration file."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def parse_duration(text: str) -> int:
    """Microseconds in a duration such as ``7d``, ``12h``, ``5m``, ``30s`` or ``1d12h``.

    Raises ``ValueError`` (with the fix in its message) for anything else.
    """
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"{excerpt(text) if isinstance(text, str) else repr(text)} is not a duration; {_DURATION_HINT}")
    return sum(int(n) * _UNIT_US[u] for n, u in zip(match.groups(), "wdhms") if n)


def format_duration(us: int) -> str:
    """The shortest duration text for whole seconds (the inverse of :func:`parse_duration`)."""
    if us == 0:
        return "0s"
    if us % 1_000_000:
        return f"{us / 1_000_000:g}s"
    parts = []
    for unit in "dhms":
        n, us = divmod(us, _UNIT_US[unit])
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {excerpt(value)}"
    return f"a {type(value).__name__} ({excerpt(str(value))[1:-1]})"


_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s\"'@]*@")
_URL_QUERY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^?#\s\"']*)[?#][^\s\"']*")


def excerpt(text: str, limit: int = 60) -> str:
    """``text`` quoted for an error message: a URL's user, password and query masked, at most ``limit`` characters.

    >>> excerpt("https://ops:s3cret@hooks.example.com/x?token=abc")
    "'https://***@hooks.example.com/x?***'"
    >>> excerpt("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…'"
    """
    text = _URL_QUERY.sub(r"\1?***", _URL_USERINFO.sub(r"\1***@", str(text)))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


class Node:
    """One value of the document with where it was written and its dotted path.

    ``mark`` is where the value starts, ``key_mark`` where its key is (errors
    about a value point at the value, errors about a missing child at the key).
    """

    __slots__ = ("value", "mark", "key_mark", "path")

    def __init__(self, value: Any, mark: Mark, path: str, key_mark: Mark | None = None) -> None:
        self.value = value
        self.mark = mark
        self.path = path
        self.key_mark = key_mark or mark

    def __repr__(self) -> str:
        return f"Node({self.path or '<document>'} at {self.mark})"

    # -- errors ---------------------------------------------------------------

    def error(self, message: str, *, at_key: bool = False) -> ConfigError:
        """A ConfigError positioned at this value (or its key) naming this path."""
        where = self.key_mark if at_key else self.mark
        prefix = f"{self.path}: " if self.path else ""
        return ConfigError(f"{where}: {prefix}{message}")

    def _expected(self, what: str, example: str) -> ConfigError:
        return self.error(f"expected {what}, got {_type_name(self.value)}; write e.g. {example}")

    # -- typed readers ----------------------------------------------------------

    def as_map(self, example: str = "key: value lines indented below") -> "MapNode":
        if not isinstance(self.value, Mapping):
            raise self._expected("a mapping", example)
        return MapNode(self.value, self.mark, self.path, self.key_mark)

    def as_list(self, example: str = "[a, b]") -> list["Node"]:
        if not isinstance(self.value, list):
            raise self._expected("a list", example)
        seq = self.value
        items = []
        for i, item in enumerate(seq):
            items.append(Node(item, _item_mark(seq, i, self.mark), f"{self.path}[{i}]"))
        return items

    def as_str(self, *, pattern: re.Pattern[str] | None = None, what: str = "text", example: str = "a_name") -> str:
        if not isinstance(self.value, str) or isinstance(self.value, bool):
            raise self._expected(what, example)
        text = str(self.value)
        if not text.strip():
            raise self.error(f"expected {what}, got empty text; write e.g. {example}")
        if pattern is not None and pattern.fullmatch(text) is None:
            raise self.error(f"{excerpt(text)} is not a valid {what}; write e.g. {example}")
        return text

    def as_int(self, *, minimum: int | None = None, maximum: int | None = None, example: str = "3") -> int:
        if not isinstance(self.value, int) or isinstance(self.value, bool):
            raise self._expected("a whole number", example)
        value = int(self.value)
        if minimum is not None and value < minimum:
            raise self.error(f"{value} is too small; use at least {minimum}")
        if maximum is not None and value > maximum:
            raise self.error(f"{value} is too large; use at most {maximum}")
        return value

    def as_bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self._expected("true or false", "true")
        return bool(self.value)

    def as_duration(self, *, minimum_us: int = 1, maximum_us: int = MAX_DURATION_US) -> int:
        """Microseconds; a bare number is refused because its unit would be a guess. Ten years at most: every
        time Forewarn computes from one (deadlines, expiries) must stay a valid date."""
        if isinstance(self.value, (int, float)) and not isinstance(self.value, bool):
            raise self.error(f"a duration needs a unit: write {self.value}d, {self.value}h, {self.value}m or {self.value}s")
        if not isinstance(self.value, str):
            raise self._expected("a duration", "7d")
        try:
            us = parse_duration(self.value)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        shown = excerpt(self.value)
        if us < minimum_us:
            if minimum_us == 1:
                raise self.error(f"{shown} is no time at all; use a positive duration, e.g. 1d")
            raise self.error(f"{shown} is too short; use at least {format_duration(minimum_us)}")
        if us > maximum_us:
            raise self.error(f"{shown} is too long; use at most {format_duration(maximum_us)}")
        return us

    def as_str_list(self, *, pattern: re.Pattern[str] | None = None, what: str = "text", example: str = "[a, b]",
                    allow_single: bool = True, allow_empty: bool = False) -> list[str]:
        """A list of texts; a single text stands for a one-item list when ``allow_single``."""
        if allow_single and isinstance(self.value, str):
            return [self.as_str(pattern=pattern, what=what, example=example)]
        items = self.as_list(example)
        if not items and not allow_empty:
            raise self.error(f"the list is empty; write at least one {what}, e.g. {example}")
        out = [n.as_str(pattern=pattern, what=what, example=example) for n in items]
        seen: set[str] = set()
        for node, text in zip(items, out):
            if text in seen:
                raise node.error(f"{text!r} is listed twice; remove one")
            seen.add(text)
        return out


class MapNode(Node):
    """A mapping node: children by key, with unknown-key and missing-key checks."""

    __slots__ = ()

    def keys(self) -> list[str]:
        return [str(k) for k in self.value]

    def __contains__(self, key: str) -> bool:
        return key in self.value

    def _child(self, key: str) -> Node:
        value = self.value[key]
        return Node(value, _value_mark(self.value, key, self.mark), _join(self.path, key), _key_mark(self.value, key, self.mark))

    def get(self, key: str) -> Node | None:
        """The child at ``key``, or None when absent (a present ``null`` is a Node with value None)."""
        return self._child(key) if key in self.value else None

    def require(self, key: str, example: str | None = None) -> Node:
        if key not in self.value:
            hint = f"; add e.g. {key}: {example}" if example else f"; add {key}:"
            raise self.error(f"missing required key {key!r}{hint}", at_key=True)
        return self._child(key)

    def items(self) -> Iterator[tuple[str, Node]]:
        for key in self.value:
            if not isinstance(key, str):
                raise Node(key, _key_mark(self.value, key, self.mark), self.path).error(
                    f"keys must be text, got {_type_name(key)}; quote it"
                )
            yield key, self._child(key)

    def check_keys(self, allowed: Sequence[str], required: Sequence[str] = (), examples: Mapping[str, str] | None = None) -> None:
        """Refuse unknown keys (suggesting the closest known one), then missing required ones."""
        for key in self.value:
            if key not in allowed:
                mark = _key_mark(self.value, key, self.mark)
                close = difflib.get_close_matches(str(key), list(allowed), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
                raise Node(key, mark, _join(self.path, str(key))).error(f"unknown key {str(key)!r}; {hint}")
        for key in required:
            self.require(key, (examples or {}).get(key))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _pos(lc_pair: Any, fallback: Mark) -> Mark:
    try:
        line, col = lc_pair
        return Mark(fallback.file, int(line) + 1, int(col) + 1)
    except (TypeError, ValueError):
        return fallback


def _key_mark(cmap: Any, key: Any, fallback: Mark) -> Mark:
    if isinstance(cmap, CommentedMap):
        try:
            return _pos(cmap.lc.key(key), fallback)
        except (KeyError, AttributeError, TypeError):
            return fallback
    return fallback


def _value_mark(cmap: Any, key: Any, fallback: Mark) -> Mark:
    if isinstance(cmap, CommentedMap):
        try:
            return _pos(cmap.lc.value(key), fallback)
        except (KeyError, AttributeError, TypeError):
            return fallback
    return fallback


def _item_mark(seq: Any, index: int, fallback: Mark) -> Mark:
    if isinstance(seq, CommentedSeq):
        try:
            return _pos(seq.lc.item(index), fallback)
        except (KeyError, AttributeError, TypeError, IndexError):
            return fallback
    return fallback


def load_yaml_text(text: str, name: str = "<config>") -> Node:
    """Parse YAML text into a root :class:`Node`; syntax errors and duplicate keys are positioned.

    Besides the syntax, the document must stay small once its aliases are expanded and shallow
    (:data:`MAX_VALUES`, :data:`MAX_TEXT_CHARS`, :data:`MAX_DEPTH`), and use no YAML tags but ``!!str``.
    """
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(io.StringIO(text))
    except DuplicateKeyError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(name, mark.line + 1, mark.column + 1) if mark else Mark(name, 1, 1)
        raise ConfigError(f"{where}: invalid YAML: {_duplicate_key_problem(str(exc.problem or ''))}; "
                          f"fix the syntax at this position") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(name, mark.line + 1, mark.column + 1) if mark else Mark(name, 1, 1)
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise ConfigError(f"{where}: invalid YAML: {problem}; fix the syntax at this position") from None
    except YAMLError as exc:
        raise ConfigError(f"{name}:1:1: invalid YAML: {' '.join(str(exc).split())[:200]}") from None
    except ValueError as exc:  # a whole number of more than 4300 digits, which Python will not convert
        long = _LONG_NUMBER.search(text)
        if long is None:
            raise ConfigError(f"{name}:1:1: invalid YAML: {excerpt(' '.join(str(exc).split()), 120)[1:-1]}") from None
        line_start = text.rfind("\n", 0, long.start()) + 1
        where = Mark(name, text.count("\n", 0, long.start()) + 1, long.start() - line_start + 1)
        raise ConfigError(f"{where}: a number of {len(long.group())} digits is too long to read; write a realistic "
                          "value") from None
    except RecursionError:
        raise ConfigError(f"{_deep_mark(text, name)}: the document nests more than {MAX_DEPTH} levels deep; "
                          f"a config needs only a few levels, so look for unclosed [ or {{") from None
    start = Mark(name, 1, 1)
    if isinstance(data, (CommentedMap, CommentedSeq)):
        start = _pos((data.lc.line, data.lc.col), start)
    root = Node(data, start, "")
    _Expansion(name).check(root)
    return root


_LONG_NUMBER = re.compile(r"[-+]?[0-9][0-9_]{4000,}")
_DUPLICATE = re.compile(r'found duplicate key "(.*)" with value "(.*)" \(original value: "(.*)"\)', re.DOTALL)


def _duplicate_key_problem(problem: str) -> str:
    """ruamel's duplicate-key problem, its values shortened and any URL's credentials and query masked
    (a duplicated section is quoted whole, and a webhook URL may carry a token)."""
    match = _DUPLICATE.match(" ".join(problem.split()))
    if match is None:
        return excerpt(" ".join(problem.split()), 200)[1:-1]
    key, value, original = (f'"{excerpt(text)[1:-1]}"' for text in match.groups())
    return f"found duplicate key {key} with value {value} (original value: {original})"


def _deep_mark(text: str, name: str) -> Mark:
    """Where the flow collections (``[`` and ``{``) of ``text`` first nest deeper than :data:`MAX_DEPTH`, else
    the start. Comments and quoted text on one line are skipped; it only locates what already failed to parse.

    >>> str(_deep_mark("a: 1  # [[[\\nb: '[[[' " + "[" * 65, "f.yaml"))
    'f.yaml:2:74'
    """
    depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        quote = None
        for column, char in enumerate(line, start=1):
            if quote is not None:
                quote = None if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (column == 1 or line[column - 2] in " \t"):
                break
            elif char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return Mark(name, number, column)
            elif char in "]}":
                depth = max(0, depth - 1)
    return Mark(name, 1, 1)


class _Expansion:
    """The checks on the loaded document that YAML itself does not make.

    Every value is visited once (an anchor's value is measured once and its size reused for each alias),
    so a "billion laughs" file is refused in a time proportional to its length, at the first value whose
    expansion is too large. ``!!str`` scalars become plain text; other tags are refused.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.sizes: dict[int, tuple[int, int]] = {}
        self.open: set[int] = set()

    def check(self, root: Node) -> None:
        self._measure(root, 0)

    def _measure(self, node: Node, depth: int) -> tuple[int, int]:
        """(values, characters) in ``node`` with its aliases expanded."""
        value = node.value
        if isinstance(value, TaggedScalar):
            return 1, len(str(value.value))
        if not isinstance(value, (CommentedMap, CommentedSeq)):
            return 1, len(value) if isinstance(value, str) else 1
        ident = id(value)
        if ident in self.sizes:
            return self.sizes[ident]
        if ident in self.open:
            raise node.error("an alias refers to the value that contains it, which would never end; "
                             "remove the alias or point it at another anchor")
        if depth >= MAX_DEPTH:
            raise node.error(f"the document nests more than {MAX_DEPTH} levels deep here; "
                             "a config needs only a few levels")
        self.open.add(ident)
        values, chars = 1, 0
        if isinstance(value, CommentedMap):
            children = []
            for key in list(value):
                if isinstance(key, (Mapping, tuple, list)):
                    raise Node(key, _key_mark(value, key, node.mark), node.path).error(
                        "keys must be text, got a mapping or list; write a plain key")
                child = Node(value[key], _value_mark(value, key, node.mark), _join(node.path, str(key)),
                             _key_mark(value, key, node.mark))
                if isinstance(child.value, TaggedScalar):
                    value[key] = self._untag(child)
                    child.value = value[key]
                children.append(child)
                values, chars = values + 1, chars + len(str(key))
        else:
            children = []
            for i in range(len(value)):
                child = Node(value[i], _item_mark(value, i, node.mark), f"{node.path}[{i}]")
                if isinstance(child.value, TaggedScalar):
                    value[i] = self._untag(child)
                    child.value = value[i]
                children.append(child)
        for child in children:
            v, c = self._measure(child, depth + 1)
            values, chars = values + v, chars + c
            if values > MAX_VALUES or chars > MAX_TEXT_CHARS:
                what = f"{MAX_VALUES} values" if values > MAX_VALUES else f"{MAX_TEXT_CHARS // (1024 * 1024)} MB of text"
                raise child.error(f"with its aliases expanded the document holds more than {what} by here; "
                                  "a config is a few hundred values, so repeat fewer aliases (or nest them less)",
                                  at_key=True)
        self.open.discard(ident)
        self.sizes[ident] = values, chars
        return values, chars

    @staticmethod
    def _untag(node: Node) -> str:
        tag = node.value.tag
        tag_name = getattr(tag, "value", None) or str(tag)
        if tag_name == "tag:yaml.org,2002:str":
            return str(node.value.value)
        shown = tag_name.replace("tag:yaml.org,2002:", "!!")
        raise node.error(f"YAML tags such as {excerpt(shown)[1:-1]} are not supported; remove the tag")


def load_yaml(path: str | Path) -> Node:
    """Read and parse a YAML file; a missing, unreadable, oversized or non-regular file is a ConfigError too."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}:1:1: no such file; pass the path of a Forewarn YAML config") from None
    except OSError as exc:
        raise ConfigError(f"{path}:1:1: cannot read the file ({exc.__class__.__name__}: {exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe, socket or device)"
        raise ConfigError(f"{path}:1:1: this is {what}; pass the path of a Forewarn YAML config file")
    if info.st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{path}:1:1: the file is {info.st_size / (1024 * 1024):.1f} MB; a config file may be at "
                          f"most {MAX_FILE_BYTES // (1024 * 1024)} MB (a real one is a few kB): is this the right file?")
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(f"{path}:1:1: the file grew past {MAX_FILE_BYTES // (1024 * 1024)} MB while being read; "
                              "a config file may be at most that size")
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as reading in text mode did
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}:1:1: cannot read the file ({exc.__class__.__name__}: {exc})") from None
    return load_yaml_text(text, str(path))


@dataclass(frozen=True)
class Section:
    """A top-level key of the config and the parser that owns it.

    ``parse(node, parsed)`` receives the section's node and the sections parsed
    before it (so a catalogue can use the value sets of ``engine``). A missing
    optional section is parsed as ``default(parsed)``.
    """

    name: str
    parse: Callable[[Node, Mapping[str, Any]], Any]
    required: bool = False
    default: Callable[[Mapping[str, Any]], Any] | None = None
    example: str = "..."


def load_document(
    root: Node,
    sections: Sequence[Section],
    checks: Sequence[Callable[[Mapping[str, Any]], None]] = (),
) -> dict[str, Any]:
    """Give each top-level key to its section parser, in the order given, then run cross-section checks.

    Keys no section claims are errors, so a misspelt section name never passes silently.
    """
    if root.value is None:
        raise root.error("the file is empty; it needs at least: " + ", ".join(s.name for s in sections if s.required))
    doc = root.as_map("triggers:, interventions: and engine: sections")
    doc.check_keys([s.name for s in sections])
    parsed: dict[str, Any] = {}
    for section in sections:
        node = doc.get(section.name)
        if node is None:
            if section.required:
                raise doc.error(f"missing required section {section.name!r}; add {section.name}: {section.example}")
            parsed[section.name] = section.default(parsed) if section.default else None
        else:
            parsed[section.name] = section.parse(node, parsed)
    for check in checks:
        check(parsed)
    return parsed
