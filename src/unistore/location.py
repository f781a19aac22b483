"""Locations: what a caller names, with the secrets kept out of sight.

Like SQLAlchemy's URL, a :class:`Location` never shows its password: ``str``,
``repr`` and :meth:`Location.redacted` drop the user-info part and every query
parameter that looks like a credential. Provenance, spans, events, logs and
error messages only ever see the redacted form. :func:`scrub` removes known
secret values from free text (driver error messages echo them sometimes).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

SECRET_WORDS = re.compile(r"pass|pwd|secret|token|key|signature|credential|auth|session|x-amz-", re.I)
#: Azure shared-access-signature parameters: short names, matched exactly.
SAS_PARAMS = frozenset({"sig", "sv", "se", "sp", "sr", "st", "spr", "srt", "ss", "skoid", "sktid"})
_WINDOWS_DRIVE = re.compile(r"^[a-zA-Z]:[\\/]")


def _is_secret_param(name: str) -> bool:
    """A query parameter whose value must never be recorded."""
    return name.lower() in SAS_PARAMS or bool(SECRET_WORDS.search(name))


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

    @classmethod
    def parse(cls, uri: str | os.PathLike[str]) -> "Location":
        text = os.fspath(uri)
        if not isinstance(text, str) or not text:
            from .errors import BadSpecError

            raise BadSpecError("a location must be a non-empty string or path")
        if "://" not in text and not text.startswith("file:"):
            if ":" in text.split("/", 1)[0] and not _WINDOWS_DRIVE.match(text):
                # "scheme:opaque" forms such as "sqlite:relative.db" are not supported.
                scheme = text.split(":", 1)[0].lower()
                return cls(raw=text, scheme=scheme, netloc_host=None, port=None, path=text.split(":", 1)[1])
            return cls(raw=text, scheme="file", netloc_host=None, port=None, path=text)
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = None
        return cls(
            raw=text,
            scheme=parts.scheme.lower(),
            netloc_host=parts.hostname,
            port=port,
            path=unquote(parts.path),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
        )

    @property
    def base_scheme(self) -> str:
        """The scheme without a driver suffix: ``postgresql+psycopg`` -> ``postgresql``."""
        return self.scheme.split("+", 1)[0]

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value this location carries, for :func:`scrub`."""
        values = [self.password] if self.password else []
        values += [v for k, v in self.query if v and _is_secret_param(k)]
        return tuple(v for v in values if len(v) >= 3)

    def redacted(self) -> str:
        """The URI with user info and secret query parameters removed."""
        if "://" not in self.raw:
            return self.raw if self.scheme == "file" else f"{self.scheme}:<opaque>"
        parts = urlsplit(self.raw)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{self.port}" if self.port else "")
        kept = [(k, v) for k, v in self.query if not _is_secret_param(k)]
        query = urlencode(kept, quote_via=quote)
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")

    def __str__(self) -> str:
        return self.redacted()


def redact(uri: str | os.PathLike[str]) -> str:
    """Return ``uri`` without credentials; safe to log, record and show."""
    try:
        return Location.parse(uri).redacted()
    except Exception:
        return "<unparseable location>"


def scrub(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """Replace every occurrence of each secret (raw and URL-quoted) in ``text`` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text
