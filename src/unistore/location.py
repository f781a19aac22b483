"""Locations: what a caller names, with the secrets kept out of sight.

Like SQLAlchemy's URL, a :class:`Location` never shows its password: ``str``,
``repr`` and :meth:`Location.redacted` drop passwords and every query
parameter that looks like a credential. Provenance, spans, events, logs and
error messages only ever see the redacted form. :func:`scrub` removes known
secret values from free text (driver error messages echo them sometimes).

The rules (documented for users in ``docs/quickstart.md``, "Credentials"):

- A password is never kept. Database and time-series servers keep the user
  name (``postgresql://bob@host/db``), as SQLAlchemy does, so a replay
  reconnects as the same user; the driver finds the password where it always
  does (``PGPASSWORD``, ``~/.pgpass``, ``MYSQL_PWD``...).
- HTTP(S) and object-store locations drop the user info entirely: there a user
  name alone is usually a token (``https://TOKEN@host/...``).
- Query parameters whose name looks like a credential are dropped
  (:func:`is_secret_param`).
- User info ends at the *last* ``@`` before the host, so a password holding an
  unencoded ``/ ? # @ :`` is still known whole as a secret (see
  :func:`_split_userinfo` for the one ambiguity).
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

SECRET_WORDS = re.compile(
    r"pass|pwd|secret|token|key|signature|credential|auth|session|x-amz-|jwt|bearer|private|cookie", re.I)
#: short parameter names that are credentials: Azure shared-access signatures, InfluxDB 1.x's ``p``,
#: OAuth's ``code``
SECRET_PARAMS = frozenset({"sig", "sv", "se", "sp", "sr", "st", "spr", "srt", "ss", "skoid", "sktid",
                           "p", "pw", "code", "sas", "sts", "hmac"})
SAS_PARAMS = SECRET_PARAMS  # the old name, kept for importers
#: schemes whose user info is a credential as a whole (a bare user name is often a token). Azure's
#: ``abfs://container@account...`` is not among them: there the "user" is the container.
NO_USERINFO_SCHEMES = frozenset({"http", "https", "s3", "s3a", "gs", "gcs", "file", "local", "memory", "ftp",
                                 "sftp", "ssh", "hdfs", "webhdfs", "hf", "github", "git", "oss", "r2"})
#: environment variables the drivers take credentials from; their values are scrubbed from text as well
ENV_SECRETS = ("PGPASSWORD", "MYSQL_PWD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "INFLUX_PASSWORD",
               "INFLUXDB_PASSWORD", "INFLUX_TOKEN", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN",
               "AZURE_STORAGE_CLIENT_SECRET", "AZURE_STORAGE_CONNECTION_STRING", "GOOGLE_OAUTH_ACCESS_TOKEN")
#: at most this many characters of any text that may echo a caller's input go into a message
MESSAGE_LIMIT = 1000
_WINDOWS_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+(%[^\]]*)?\]|[^\s/?#@\[\]:]*)(:[0-9]*)?([/?#]|$)")
_RESERVED = re.compile(r"[/?#]")


def is_secret_param(name: str) -> bool:
    """A query parameter (or option) whose value must never be recorded."""
    return name.lower() in SECRET_PARAMS or bool(SECRET_WORDS.search(name))


_is_secret_param = is_secret_param


def _bad(what: str) -> Exception:
    from .errors import BadSpecError

    return BadSpecError(what)


def _split_userinfo(rest: str) -> tuple[str | None, str]:
    """Split ``user:password@host/...`` (the text after ``://``) at the end of the user info.

    The user info ends at the last ``@`` that is followed by a host. Text
    before it holding ``/?#`` still counts as user info when it reads as
    ``user:password`` — a password with unencoded reserved characters —
    unless it reads as ``host:port/...`` (digits after the colon), which is
    the one ambiguity: such a password must be percent-encoded.
    """
    at = rest.rfind("@")
    while at > 0:
        userinfo, hostpart = rest[:at], rest[at + 1:]
        reserved = _RESERVED.search(userinfo)
        if _HOST.match(hostpart):
            if reserved is None:
                return userinfo, hostpart
            colon = userinfo.find(":")
            if 0 < colon < reserved.start() and "@" not in userinfo[:colon]:
                between = userinfo[colon + 1:reserved.start()]
                if not between.isdigit():
                    return userinfo, hostpart
        at = rest.rfind("@", 0, at)
    return None, rest


@dataclass(frozen=True)
class Location:
    """A parsed URI. ``scheme`` is lower-case; bare paths get the scheme ``file``."""

    raw: str = field(repr=False)
    scheme: str
    netloc_host: str | None
    port: int | None
    path: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    query: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: the user info exactly as written (percent-encoded or not), scrubbed from text too
    raw_userinfo: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, uri: str | os.PathLike[str]) -> "Location":
        """Parse ``uri``; a malformed one is a :class:`~unistore.errors.BadSpecError` that does not echo it.

        Locations are immutable, so the text of a recent one maps to the same object (a loop of
        ``unistore.read(uri)`` parses once); its secrets are remembered for log scrubbing every time.
        """
        try:
            text = os.fspath(uri)
        except TypeError:
            raise _bad(f"a location must be a string or path, not {type(uri).__name__}") from None
        if not isinstance(text, str) or not text:
            raise _bad("a location must be a non-empty string or path")
        location = _parse_text(cls, text)
        remember_secrets(location.secrets)
        return location

    @classmethod
    def _from_text(cls, text: str) -> "Location":
        if "://" not in text and not text.startswith("file:"):
            if ":" in text.split("/", 1)[0] and not _WINDOWS_DRIVE.match(text):
                # "scheme:opaque" forms such as "sqlite:relative.db" are not supported.
                scheme = text.split(":", 1)[0].lower()
                return cls(raw=text, scheme=scheme, netloc_host=None, port=None, path=text.split(":", 1)[1])
            return cls(raw=text, scheme="file", netloc_host=None, port=None, path=text)
        if "://" not in text:  # file:/path
            return cls(raw=text, scheme="file", netloc_host=None, port=None, path=unquote(text[5:]))
        scheme, rest = text.split("://", 1)
        userinfo, hostpart = _split_userinfo(rest)
        username = password = None
        if userinfo is not None:
            user, colon, pw = userinfo.partition(":")
            username = unquote(user) or None
            password = unquote(pw) if colon and pw else None
        what = f"the {scheme.lower()}:// location" if scheme.isascii() and scheme.isprintable() else "the location"
        try:
            parts = urlsplit(f"{scheme}://{hostpart}")
            port = parts.port
        except ValueError:
            raise _bad(f"{what} has a malformed host or port (its text is not shown: it may hold a secret)") from None
        location = cls(
            raw=text,
            scheme=scheme.lower(),
            netloc_host=parts.hostname,
            port=port,
            path=unquote(parts.path),
            username=username,
            password=password,
            query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
            raw_userinfo=userinfo,
        )
        return location

    @property
    def base_scheme(self) -> str:
        """The scheme without a driver suffix: ``postgresql+psycopg`` -> ``postgresql``."""
        return self.scheme.split("+", 1)[0]

    @property
    def keeps_user(self) -> bool:
        """Whether the user name is recorded (database servers) or dropped with the user info (HTTP, objects)."""
        return self.base_scheme not in NO_USERINFO_SCHEMES

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value this location carries, for :func:`scrub` (longest first).

        The driver's credential variables are read now (they may change between reads); the URI's own
        secrets are worked out once.
        """
        env = _env_secrets()
        if not env:
            return self._uri_secrets
        found = dict.fromkeys(self._uri_secrets)
        found.update(dict.fromkeys(env))
        return tuple(sorted(found, key=len, reverse=True))

    @functools.cached_property
    def _uri_secrets(self) -> tuple[str, ...]:
        """The secrets written in the URI itself (password, token user names, secret query parameters)."""
        values: list[str] = []
        if self.password:
            values.append(self.password)
            values.append(base64.b64encode(f"{self.username or ''}:{self.password}".encode()).decode())
        if self.raw_userinfo and ":" in self.raw_userinfo:
            values.append(self.raw_userinfo.split(":", 1)[1])
        if self.username and not self.keeps_user and not self.password:  # a bare token as the user name
            values.append(self.username)
            values.append(base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode())
            if self.raw_userinfo:
                values.append(self.raw_userinfo)
        values += [v for k, v in self.query if v and is_secret_param(k)]
        values += [v for k, v in parse_qsl(self._raw_query(), keep_blank_values=True) if v and is_secret_param(k)]
        found = tuple(dict.fromkeys(v for v in values if len(v) >= 3))
        return tuple(sorted(found, key=len, reverse=True))

    def _raw_query(self) -> str:
        return self.raw.split("?", 1)[1] if "?" in self.raw else ""

    def redacted(self) -> str:
        """The URI without password, secret query parameters, and (HTTP, object stores) user names."""
        return self._redacted

    @functools.cached_property
    def _redacted(self) -> str:
        if "://" not in self.raw:
            return self.raw if self.scheme == "file" else f"{self.scheme}:<opaque>"
        host = self.netloc_host or ""
        if ":" in host:
            host = f"[{host}]"
        user = quote(self.username, safe="") + "@" if self.username and self.keeps_user else ""
        netloc = user + host + (f":{self.port}" if self.port else "")
        kept = [(k, v) for k, v in self.query if not is_secret_param(k)]
        query = urlencode(kept, quote_via=quote)
        scheme, rest = self.raw.split("://", 1)
        path = urlsplit(f"{scheme}://{_split_userinfo(rest)[1]}").path
        return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")

    def with_credentials(self) -> str:
        """The URI as it must be sent, user info percent-encoded (never record or show this)."""
        if self.raw_userinfo is None:
            return self.raw
        user = quote(self.username or "", safe="")
        userinfo = user + (":" + quote(self.password, safe="") if self.password else "")
        scheme, rest = self.raw.split("://", 1)
        return f"{scheme}://{userinfo}@{_split_userinfo(rest)[1]}"

    def without_userinfo(self) -> str:
        """The URI with the user info removed and nothing else changed (query secrets stay: it is sent)."""
        if self.raw_userinfo is None:
            return self.raw
        scheme, rest = self.raw.split("://", 1)
        return f"{scheme}://{_split_userinfo(rest)[1]}"

    def __str__(self) -> str:
        return self.redacted()


def _env_secrets() -> list[str]:
    """The values (3 characters or more) of :data:`ENV_SECRETS` in ``os.environ`` now, in that order.

    Read on every parse, so cheaply: ``os.environ.get`` costs a microsecond a name, and usually none is
    set. The mapping's own store is asked once whether any of the names is in it (spelt as the mapping
    spells its keys); when one is, every value is read the ordinary way, so it is exactly what
    ``os.environ`` gives (surrogate-escaped bytes included). A replaced ``os.environ`` is read name by name.
    """
    global _ENCODED_NAMES
    env = os.environ
    data = getattr(env, "_data", None)
    if type(data) is dict and hasattr(env, "encodekey"):
        if _ENCODED_NAMES[0] is not env or _ENCODED_NAMES[1] is not ENV_SECRETS:
            _ENCODED_NAMES = (env, ENV_SECRETS, frozenset(map(env.encodekey, ENV_SECRETS)))
        if data.keys().isdisjoint(_ENCODED_NAMES[2]):
            return []
    return [value for name in ENV_SECRETS if len(value := env.get(name, "")) >= 3]


#: the os.environ and the :data:`ENV_SECRETS` (a module may add its driver's names) the names were encoded
#: for, and those names as that mapping's store spells them
_ENCODED_NAMES: tuple[Any, Any, frozenset[Any]] = (None, None, frozenset())


@functools.lru_cache(maxsize=256)
def _parse_text(cls: type[Location], text: str) -> Location:
    """:meth:`Location.parse`'s work, kept for the last texts parsed (a malformed text is not kept)."""
    return cls._from_text(text)


def redact(uri: str | os.PathLike[str]) -> str:
    """Return ``uri`` without credentials; safe to log, record and show."""
    try:
        return Location.parse(uri).redacted()
    except Exception:
        return "<unparseable location>"


def scrub(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """Replace every occurrence of each secret (raw and URL-quoted) in ``text`` with ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        for form in (secret, quote(secret, safe=""), quote(secret), quote_plus_safe(secret)):
            text = text.replace(form, "***")
    return text


def quote_plus_safe(secret: str) -> str:
    """The form-encoded spelling of a secret (spaces as ``+``), as query strings carry it."""
    from urllib.parse import quote_plus

    return quote_plus(secret, safe="")


def cap(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out (messages stay short)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


# -- logging: libraries unistore hands a URL to (fsspec, urllib3, botocore) log it at DEBUG -----------

_KNOWN_SECRETS: dict[str, None] = {}
_KNOWN_LIMIT = 1000
_previous_factory = logging.getLogRecordFactory()


def remember_secrets(secrets: tuple[str, ...] | list[str]) -> None:
    """Secrets to scrub from every log record made in this process (the last thousand are kept)."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            _KNOWN_SECRETS.pop(secret, None)
            _KNOWN_SECRETS[secret] = None
    while len(_KNOWN_SECRETS) > _KNOWN_LIMIT:
        _KNOWN_SECRETS.pop(next(iter(_KNOWN_SECRETS)))


def known_secrets() -> list[str]:
    """The secrets of the locations parsed in this process so far (to mask them in any text shown)."""
    return list(_KNOWN_SECRETS)


def _scrubbing_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Make a log record, then take known secrets out of its message and traceback.

    A record factory rather than a filter, because filters are not inherited by
    child loggers and the libraries that log URLs (``fsspec.http``,
    ``urllib3.connectionpool``, ``botocore.*``) are many. Costs nothing until a
    location with a secret has been parsed, and only for records that are made.
    """
    record = _previous_factory(*args, **kwargs)
    if not _KNOWN_SECRETS:
        return record
    secrets = list(_KNOWN_SECRETS)
    try:
        message = record.getMessage()
    except Exception:
        return record
    clean = scrub(message, secrets)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        import traceback

        text = "".join(traceback.format_exception(*record.exc_info))
        record.exc_text = scrub(text, secrets).rstrip("\n")
    return record


if not getattr(_previous_factory, "_unistore", False):
    _scrubbing_record_factory._unistore = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(_scrubbing_record_factory)
