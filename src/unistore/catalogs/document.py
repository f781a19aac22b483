"""The catalog file (``unistore.yaml``): found, safely parsed, validated, with every mistake placed.

A catalog names *sources* (a URI plus the options that open it) and *datasets*
(a source plus what to read: table, path or query, columns, filter, time
options) with their description, owner, tags and tests. It is parsed with
PyYAML's safe loader (no Python objects, duplicate keys refused) and validated
against ``unistore/schemas/unistore_catalog.json``, the JSON Schema editors use
for completion. Every mistake is a :class:`~unistore.errors.CatalogError` naming
the file, the line and the key.

Secrets enter only through ``${VAR}`` in a source's ``uri`` or ``options``: the
text as written (the template) is what the lock file and messages show; the
environment's values are substituted only when the source is opened
(:meth:`SourceDef.resolve`), and are handed back so that callers scrub them
from every message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ..checks import Relationships, as_checks, from_dict
from ..errors import BadSpecError, CatalogError, MissingExtraError
from ..filters import Filter, as_filter
from ..location import Location

CATALOG_NAME = "unistore.yaml"
LOCK_NAME = "unistore.lock"
ENV_CATALOG = "UNISTORE_CATALOG"
LOCK_MODES = ("strict", "warn", "off")
DEFAULT_LOCK_MODE = "warn"
_VARIABLE = re.compile(r"\$\$|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: schemes of one-file databases whose ``scheme:///relative`` path is resolved against the catalog's folder
_FILE_DATABASES = ("sqlite", "duckdb")


def find_catalog(start: str | os.PathLike[str] | None = None) -> Path:
    """``$UNISTORE_CATALOG``, else the nearest ``unistore.yaml`` in ``start`` (default: the current
    directory) or a parent, as tools find ``pyproject.toml``."""
    env = os.environ.get(ENV_CATALOG)
    if env:
        path = Path(env)
        if not path.is_file():
            raise CatalogError(str(path), None, None, f"${ENV_CATALOG} names a file that does not exist")
        return path
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CATALOG_NAME
        if candidate.is_file():
            return candidate
    raise CatalogError(CATALOG_NAME, None, None, f"no {CATALOG_NAME} in {here} or any parent folder, and "
                       f"${ENV_CATALOG} is not set; create one (see docs/data-as-code.md) or pass its path")


# -- parsing with line numbers -------------------------------------------------------------

class Mapped(dict):
    """A YAML mapping that remembers the line of each key (1-based) and its own."""

    line: int = 0
    lines: dict[str, int]


class Listed(list):
    """A YAML sequence that remembers the line of each item (1-based) and its own."""

    line: int = 0
    lines: list[int]


@functools.cache
def _loader() -> type:
    try:
        import yaml
    except ImportError:
        raise MissingExtraError("reading a catalog", "catalog", "pyyaml") from None

    class Loader(yaml.SafeLoader):
        """The safe loader, recording lines and refusing duplicate and non-text keys."""

    def mapping(loader: Any, node: Any) -> Mapped:
        loader.flatten_mapping(node)
        out = Mapped()
        out.line, out.lines = node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise _Problem(line, f"keys must be text, got {type(key).__name__} {key!r}")
            if key in out:
                raise _Problem(line, f"duplicate key {key!r} (first on line {out.lines[key]})")
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = line
        return out

    def sequence(loader: Any, node: Any) -> Listed:
        out = Listed(loader.construct_object(child, deep=True) for child in node.value)
        out.line, out.lines = node.start_mark.line + 1, [child.start_mark.line + 1 for child in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return Loader


class _Problem(Exception):
    def __init__(self, line: int, problem: str):
        super().__init__(problem)
        self.line, self.problem = line, problem


def parse_yaml(text: str, file: str) -> Any:
    """The document in ``text`` (safe YAML), or a :class:`CatalogError` with the line of the mistake."""
    loader = _loader()  # first: without PyYAML it raises MissingExtraError naming the extra
    import yaml

    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except _Problem as exc:
        raise CatalogError(file, exc.line, None, exc.problem) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise CatalogError(file, line, None, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(file, None, None, f"not valid YAML: {type(exc).__name__}") from None


def line_of(data: Any, path: list[Any]) -> int | None:
    """The line of the item at ``path`` (keys and indexes) in parsed YAML, else of its nearest parent."""
    line = getattr(data, "line", None)
    node = data
    for part in path:
        if isinstance(node, Mapped) and part in node:
            line, node = node.lines[part], node[part]
        elif isinstance(node, Listed) and isinstance(part, int) and part < len(node):
            line, node = node.lines[part], node[part]
        else:
            break
    return line


def dotted(path: list[Any]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[") or "(top)"


# -- validation against the shipped JSON Schema ---------------------------------------------

@functools.cache
def catalog_schema() -> dict[str, Any]:
    """The JSON Schema of ``unistore.yaml`` (``unistore/schemas/unistore_catalog.json``)."""
    return json.loads(resources.files("unistore").joinpath("schemas/unistore_catalog.json").read_text())


def _plain(value: Any) -> Any:
    """What the schema sees: YAML dates and times as ISO text."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value


def validate(data: Any, file: str) -> None:
    """Raise a :class:`CatalogError` for the first place ``data`` breaks the catalog schema (by line)."""
    try:
        import jsonschema
    except ImportError:
        raise MissingExtraError("validating a catalog", "catalog", "jsonschema") from None
    if not isinstance(data, dict):
        raise CatalogError(file, getattr(data, "line", 1), None,
                           "a catalog is a mapping with 'sources' and 'datasets'")
    schema = catalog_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(_plain(data)), key=lambda e: (line_of(data, list(e.absolute_path)) or 0))
    if not errors:
        return
    error = errors[0]
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted((error.schema.get("properties") or {}))
        extra = [k for k in error.instance if k not in known]
        if extra and known:
            key = extra[0]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(known)}"
            raise CatalogError(file, line_of(data, path + [key]), dotted(path + [key]), f"unknown key {key!r}{hint}")
    if error.validator == "propertyNames":
        parent = _at(data, path)
        bad = next((k for k in parent if not re.match(schema["$defs"]["name"]["pattern"], k)), None)
        if bad is not None:
            raise CatalogError(file, line_of(data, path + [bad]), dotted(path + [bad]),
                               "a name must start with a letter or _ and hold only letters, digits, _ . -")
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        raise CatalogError(file, line_of(data, path), dotted(path), f"missing key {missing!r}")
    choices = re.fullmatch(r"\^\(([\w|]+)\)\$", str(error.validator_value)) if error.validator == "pattern" else None
    if choices and isinstance(error.instance, str):  # a pattern listing choices: say it as choices
        names = choices.group(1).split("|")
        close = difflib.get_close_matches(error.instance, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CatalogError(file, line_of(data, path), dotted(path),
                           f"unknown value {short_text(error.instance)!r}{hint}; one of {', '.join(names)}")
    if error.validator == "oneOf" and error.context:
        error = jsonschema.exceptions.best_match(error.context)
    raise CatalogError(file, line_of(data, path), dotted(path), _short_message(error))


def short_text(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _at(data: Any, path: list[Any]) -> Any:
    for part in path:
        data = data[part]
    return data


def _short_message(error: Any) -> str:
    message = str(error.message)
    return message if len(message) <= 200 else message[:200] + "..."


# -- the model ---------------------------------------------------------------------------------

def interpolate(value: Any, file: str, line: int | None, key: str, found: list[str]) -> Any:
    """``value`` with every ``${VAR}`` replaced from the environment (``$$`` is a literal ``$``).

    The substituted values are appended to ``found`` (they are secrets to scrub);
    a variable that is not set is a :class:`CatalogError` naming the key.
    """
    if isinstance(value, dict):
        return {k: interpolate(v, file, line_of(value, [k]) or line, f"{key}.{k}", found) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, file, line, f"{key}[{i}]", found) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if not _NAME.match(name):
            raise CatalogError(file, line, key, f"${{{name[:40]}}} is not a variable name (letters, digits, _)")
        if name not in os.environ:
            raise CatalogError(file, line, key, f"environment variable {name} is not set")
        if os.environ[name]:
            found.append(os.environ[name])
        return os.environ[name]

    return _VARIABLE.sub(one, value)


def variables(value: Any) -> list[str]:
    """The ``${VAR}`` names used in ``value`` (any nesting)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in variables(v)]
    if isinstance(value, list):
        return [n for v in value for n in variables(v)]
    if isinstance(value, str):
        return [m.group(1) for m in _VARIABLE.finditer(value) if m.group(0) != "$$"]
    return []


@dataclass(frozen=True)
class SourceDef:
    """A named source as written: ``uri`` and ``options`` still hold their ``${VAR}`` templates."""

    name: str
    uri: str
    options: Mapping[str, Any]
    description: str | None
    file: str
    line: int
    folder: Path = field(repr=False)
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def resolve(self) -> tuple[str, dict[str, Any], tuple[str, ...]]:
        """The URI and options to open, with variables substituted, and the substituted values (secrets)."""
        found: list[str] = []
        key = f"sources.{self.name}"
        uri = interpolate(self.uri, self.file, line_of(self.raw, ["uri"]), f"{key}.uri", found)
        options = interpolate(self.raw.get("options") or dict(self.options), self.file, line_of(self.raw, ["options"]),
                              f"{key}.options", found)
        return _relative_to(uri, self.folder), options, tuple(sorted(set(found), key=len, reverse=True))

    @property
    def redacted(self) -> str:
        """The URI as written (variables unexpanded), credentials removed: safe to record and show."""
        try:
            return Location.parse(self.uri).redacted()
        except BadSpecError:
            return "<unparseable location>"


def _relative_to(uri: str, folder: Path) -> str:
    """Plain relative paths, and ``sqlite:///relative.db``, are relative to the catalog's folder."""
    if "://" not in uri and ":" not in uri.split("/", 1)[0] and not os.path.isabs(uri):
        return str(folder / uri)
    scheme, sep, rest = uri.partition(":///")
    if sep and scheme.split("+", 1)[0].lower() in _FILE_DATABASES and rest and not rest.startswith("/"):
        return f"{scheme}:///{folder / rest}"
    return uri


@dataclass(frozen=True)
class Owner:
    name: str
    type: str | None = None


@dataclass(frozen=True)
class DatasetDef:
    """A named dataset as written in the catalog."""

    name: str
    source: str
    table: str | tuple[str, ...] | None
    query: str | None
    params: Any
    columns: tuple[str, ...] | None
    filter: Any  # as written (a list); checked with unistore.filters
    time: Mapping[str, Any]
    options: Mapping[str, Any]
    description: str | None
    owners: tuple[Owner, ...]
    tags: Mapping[str, str]
    tests: tuple[Any, ...]
    lock: str | None
    file: str
    line: int
    #: the tests as checks (dataset-level, then those declared under columns), validated when the file loads
    checks: tuple[Any, ...] = ()

    def read_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``Source.read`` this dataset stands for."""
        kwargs: dict[str, Any] = {"table": self.table, "query": self.query}
        if self.params is not None:
            kwargs["params"] = self.params
        if self.columns is not None:
            kwargs["columns"] = list(self.columns)
        if self.filter is not None:
            kwargs["filter"] = self.filter_value()
        names = {"column": "time_column", "start": "start", "end": "end", "step": "step", "shape": "shape"}
        kwargs.update({names[k]: v for k, v in self.time.items()})
        kwargs.update(self.options)
        return kwargs

    def filter_value(self) -> Filter | None:
        if self.filter is None:
            return None
        return as_filter(_tuples(self.filter))

    def definition(self, source: SourceDef) -> dict[str, Any]:
        """What the lock pins against: the source as written and the read request (JSON-safe)."""
        return _plain({"source": {"uri": source.uri, "options": dict(source.options)},
                       "read": {k: (list(v) if isinstance(v, tuple) else v)
                                for k, v in self.read_kwargs().items() if k != "filter"},
                       "filter": None if self.filter is None else str(self.filter_value())})


def _tuples(value: Any) -> Any:
    """YAML lists of ``[column, op, value]`` as the tuples :func:`unistore.filters.as_filter` takes."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        if all(v and isinstance(v[0], list) for v in value):
            return [[tuple(t) for t in clause] for clause in value]
        return [tuple(v) for v in value]
    return value


def _owners(value: Any) -> tuple[Owner, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(Owner(i) if isinstance(i, str) else Owner(i["name"], i.get("type")) for i in items)


def _tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):
        return {str(t): "true" for t in value}
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


@dataclass(frozen=True)
class CatalogDocument:
    """A parsed and validated catalog file."""

    path: Path
    sources: dict[str, SourceDef]
    datasets: dict[str, DatasetDef]
    lock_mode: str
    lock_path: Path
    raw: Any = field(repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "CatalogDocument":
        path = Path(path)
        file = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CatalogError(file, None, None, "the catalog file does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(file, None, None, f"cannot read the catalog ({type(exc).__name__})") from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: Path) -> "CatalogDocument":
        file = str(path)
        data = parse_yaml(text, file)
        if data is None:
            raise CatalogError(file, 1, None, "the catalog is empty; it needs 'sources' and 'datasets'")
        validate(data, file)
        folder = path.resolve().parent
        sources = {}
        for name, raw in data["sources"].items():
            sources[name] = SourceDef(name, raw["uri"], dict(raw.get("options") or {}), raw.get("description"),
                                      file, data["sources"].lines[name], folder, raw)
        datasets = {}
        for name, raw in data["datasets"].items():
            datasets[name] = _dataset(name, raw, sources, file, data["datasets"].lines[name])
        datasets = _with_checks(datasets, data["datasets"], file)
        lock_file = data.get("lock_file", LOCK_NAME)
        return cls(path=path, sources=sources, datasets=datasets, lock_mode=data.get("lock", DEFAULT_LOCK_MODE),
                   lock_path=folder / lock_file, raw=data)

    def check_variables(self) -> None:
        """Raise a :class:`CatalogError` for the first ``${VAR}`` that is not set (nothing is opened)."""
        for source in self.sources.values():
            source.resolve()


def _dataset(name: str, raw: Mapped, sources: dict[str, SourceDef], file: str, line: int) -> DatasetDef:
    key = f"datasets.{name}"
    if raw["source"] not in sources:
        close = difflib.get_close_matches(raw["source"], sorted(sources), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CatalogError(file, line_of(raw, ["source"]), f"{key}.source",
                           f"unknown source {raw['source']!r}{hint}; defined: {', '.join(sorted(sources)) or 'none'}")
    targets = [k for k in ("table", "path", "query") if k in raw]
    if len(targets) > 1:
        raise CatalogError(file, line_of(raw, [targets[1]]), f"{key}.{targets[1]}",
                           f"give one of table, path or query, not {' and '.join(targets)}")
    if "params" in raw and "query" not in raw:
        raise CatalogError(file, line_of(raw, ["params"]), f"{key}.params", "params only apply to a query")
    table = raw.get("table", raw.get("path"))
    if isinstance(table, list):
        table = tuple(table)
    if "filter" in raw:
        try:
            as_filter(_tuples(raw["filter"]))
        except BadSpecError as exc:
            raise CatalogError(file, line_of(raw, ["filter"]), f"{key}.filter", str(exc)) from None
    return DatasetDef(
        name=name, source=raw["source"], table=table, query=raw.get("query"), params=raw.get("params"),
        columns=column_names(raw["columns"]) if "columns" in raw else None, filter=raw.get("filter"),
        time=dict(raw.get("time") or {}), options=dict(raw.get("options") or {}),
        description=raw.get("description"), owners=_owners(raw.get("owner")), tags=_tags(raw.get("tags")),
        tests=tuple(raw.get("tests") or ()), lock=raw.get("lock"), file=file, line=line)


# -- data tests ----------------------------------------------------------------------------------

def column_names(columns: Any) -> tuple[str, ...]:
    """The names a ``columns:`` entry reads: a list of names or ``{name: {tests}}``, or a mapping."""
    if isinstance(columns, dict):
        return tuple(columns)
    return tuple(next(iter(c)) if isinstance(c, dict) else c for c in columns)


def _column_specs(columns: Any) -> list[tuple[str, Any, list[Any]]]:
    """``(column, its spec, path to the spec)`` for each column declared with a spec."""
    if isinstance(columns, dict):
        return [(name, spec, ["columns", name]) for name, spec in columns.items() if spec]
    return [(next(iter(c)), next(iter(c.values())), ["columns", i, next(iter(c))])
            for i, c in enumerate(columns) if isinstance(c, dict) and next(iter(c.values()))]


def _declared(raw: Mapped) -> list[tuple[Any, list[Any]]]:
    """Each test as written (a thunk making its check) with its path in the dataset, in order."""
    found: list[tuple[Any, list[Any]]] = []
    for i, test in enumerate(raw.get("tests") or ()):
        found.append((lambda t=test: from_dict(t), ["tests", i]))
    for column, spec, path in _column_specs(raw.get("columns") or ()):
        for i, test in enumerate(spec.get("tests") or ()):
            found.append((lambda t=test, c=column: from_dict(t, column=c), [*path, "tests", i]))
    return found


def dataset_checks(raw: Mapped, file: str, key: str) -> tuple[Any, ...]:
    """The dataset's ``tests:`` and its columns' tests as :mod:`unistore.checks` values; a malformed
    test is a :class:`CatalogError` at its line."""
    found = _declared(raw)
    checks = []
    for make, path in found:
        try:
            checks.append(make())
        except BadSpecError as exc:
            raise CatalogError(file, line_of(raw, path), f"{key}.{dotted(path)}", f"bad data test: {exc}") from None
    try:
        return as_checks(checks)
    except BadSpecError as exc:
        raise CatalogError(file, line_of(raw, ["tests"]) or line_of(raw, ["columns"]), f"{key}.tests",
                           str(exc)) from None


def _with_checks(datasets: dict[str, DatasetDef], raws: Mapped, file: str) -> dict[str, DatasetDef]:
    """Each dataset with its checks; a ``relationships`` test names another dataset of the catalog (or a URI)."""
    out = {}
    for name, ds in datasets.items():
        raw = raws[name]
        checks = dataset_checks(raw, file, f"datasets.{name}")
        for check, (_, path) in zip(checks, _declared(raw)):
            if isinstance(check, Relationships) and isinstance(check.to, str) and "://" not in check.to \
                    and check.to not in datasets:
                close = difflib.get_close_matches(check.to, sorted(datasets), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise CatalogError(file, line_of(raw, path), f"datasets.{name}.{dotted(path)}",
                                   f"relationships to {check.to!r}: no such dataset{hint}; "
                                   "name a dataset of this catalog or a location URI")
        out[name] = dataclasses.replace(ds, checks=checks)
    return out
