"""Setting up the file systems behind a files source: one for listing, one for data.

Listing (and object versions) goes through fsspec, which knows every store
(a small S3 data set is listed and described by pyarrow's client, see s3native);
the bytes of the data path go through pyarrow's native file systems where
they exist (local disk, S3), because they read with parallel, coalesced range
requests and no Python in the loop. Credentials come from ``storage_options``
or the store's usual environment variables; they are kept only inside the
file system objects and in the list of secrets scrubbed from every message.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import os
import socket
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import fsspec
import pyarrow.fs as pafs

from ...errors import BadSpecError, MissingExtraError, SourceUnavailableError
from ...location import SECRET_WORDS, Location

#: storage option names whose values are credentials (beyond those matching SECRET_WORDS)
SECRET_OPTIONS = frozenset({"secret", "token", "key", "password", "account_key", "sas_token",
                            "connection_string", "client_secret", "credentials"})
#: s3fs options the native pyarrow S3 file system can honour as well
S3_NATIVE_OPTIONS = frozenset({"key", "secret", "token", "endpoint_url", "region", "client_kwargs", "anon",
                               "version_aware", "use_listings_cache", "skip_instance_cache"})
S3_SCHEMES = ("s3", "s3a")
AZURE_SCHEMES = ("az", "abfs", "abfss")
GCS_SCHEMES = ("gs", "gcs")
GCS_ENDPOINT = "https://storage.googleapis.com"
#: seconds to wait for a TCP connection when checking that an endpoint answers at all
REACHABLE_TIMEOUT = 5


@dataclass(frozen=True)
class SecretLocation(Location):
    """A location that also knows the secrets passed beside it (options, environment)."""

    extra_secrets: tuple[str, ...] = dataclasses.field(default=(), repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(super().secrets + tuple(s for s in self.extra_secrets if len(s) >= 3)))

    @classmethod
    def wrap(cls, location: Location, secrets: tuple[str, ...]) -> "SecretLocation":
        fields = {f.name: getattr(location, f.name) for f in dataclasses.fields(Location)}
        extra = secrets + (location.extra_secrets if isinstance(location, SecretLocation) else ())
        return cls(**fields, extra_secrets=extra)


@dataclass(frozen=True)
class S3Settings:
    """Where and as whom to reach S3, resolved once from options and the environment."""

    endpoint_url: str | None
    region: str | None
    key: str | None
    secret: str | None
    token: str | None
    anon: bool

    @classmethod
    def resolve(cls, options: dict[str, Any], env: os._Environ | dict[str, str] = os.environ) -> "S3Settings":
        client = options.get("client_kwargs") or {}
        endpoint = (options.get("endpoint_url") or client.get("endpoint_url")
                    or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None)
        region = (options.get("region") or client.get("region_name")
                  or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None)
        return cls(
            endpoint_url=endpoint,
            region=region or ("us-east-1" if endpoint else None),
            key=options.get("key") or env.get("AWS_ACCESS_KEY_ID") or None,
            secret=options.get("secret") or env.get("AWS_SECRET_ACCESS_KEY") or None,
            token=options.get("token") or env.get("AWS_SESSION_TOKEN") or None,
            anon=bool(options.get("anon", False)),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.secret, self.token) if s)

    def named(self, endpoint: str, region: str, key: str, secret: str, token: str) -> dict[str, str]:
        """The settings that are set, under the option names another library uses (delta-rs, pyiceberg)."""
        pairs = ((endpoint, self.endpoint_url), (region, self.region), (key, self.key),
                 (secret, self.secret), (token, self.token))
        return {name: value for name, value in pairs if value}

    def s3fs_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Options for s3fs: the caller's, plus the resolved endpoint and region, version aware."""
        out = {k: v for k, v in options.items() if k not in ("region", "endpoint_url")}
        client = dict(out.pop("client_kwargs", None) or {})
        if self.endpoint_url:
            client["endpoint_url"] = self.endpoint_url
        if self.region:
            client["region_name"] = self.region
        out["client_kwargs"] = client
        # credentials found in the environment are passed on explicitly, so that fsspec's instance
        # cache (keyed by these options) never serves a client holding credentials since rotated
        if not self.anon:
            for name, value in (("key", self.key), ("secret", self.secret), ("token", self.token)):
                if value and name not in out:
                    out[name] = value
        # fresh listings every read (a cached listing would pin stale state); the instance itself
        # is shared, since a new botocore session per read costs more than a small file's read
        out.setdefault("use_listings_cache", False)
        out.setdefault("config_kwargs", {"connect_timeout": 10, "read_timeout": 60,
                                         "retries": {"max_attempts": 2, "mode": "standard"}})
        return out

    def native(self) -> pafs.S3FileSystem:
        """pyarrow's own S3 client (which does not read AWS_ENDPOINT_URL itself)."""
        kwargs: dict[str, Any] = {"region": self.region} if self.region else {}
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            kwargs["endpoint_override"] = parts.netloc + parts.path.rstrip("/") if parts.scheme else self.endpoint_url
            if parts.scheme:
                kwargs["scheme"] = parts.scheme
        if self.anon:
            kwargs["anonymous"] = True
        elif self.key and self.secret:
            kwargs.update(access_key=self.key, secret_key=self.secret)
            if self.token:
                kwargs["session_token"] = self.token
        kwargs["connect_timeout"] = 10
        kwargs["request_timeout"] = 60
        return pafs.S3FileSystem(**kwargs)


@dataclass
class FileSystems:
    """The file systems of one source.

    ``fs`` lists and describes objects (fsspec); ``arrow_fs`` reads the
    current objects; ``pinned_fs`` reads paths made by :meth:`versioned`
    (``None`` where the store keeps no versions unistore can read back).
    """

    fs: fsspec.AbstractFileSystem
    root: str
    arrow_fs: pafs.FileSystem
    pinned_fs: pafs.FileSystem | None = None
    secrets: tuple[str, ...] = ()
    data_path: str = "fsspec"
    #: listings lack version ids, so ask each object (HEAD) for its current VersionId
    head_versions: bool = False
    #: the fsspec file system behind ``pinned_fs`` (understands :meth:`versioned` paths)
    versions_fs: fsspec.AbstractFileSystem | None = None
    #: run once before the first request (a fast reachability check): opening a source sends nothing
    preflight: Callable[[], None] | None = None
    #: pyarrow's S3 client, where it reads the data: it also lists and describes small data sets
    #: (see s3native), sparing a process s3fs's botocore client
    native_s3: pafs.FileSystem | None = None

    def versioned(self, path: str, version_id: str) -> str:
        """The path that reads ``version_id`` of the object at ``path`` through ``pinned_fs``."""
        return f"{path}?versionId={version_id}"


def option_secrets(options: dict[str, Any]) -> tuple[str, ...]:
    """Values of storage options that are credentials, so they can be scrubbed from text."""
    found: list[str] = []
    for name, value in options.items():
        if isinstance(value, dict):
            found += option_secrets(value)
        elif isinstance(value, str) and (name in SECRET_OPTIONS or SECRET_WORDS.search(name)):
            found.append(value)
            if name == "connection_string":  # Azure: "...;AccountKey=<secret>;SharedAccessSignature=<secret>"
                found += [part.split("=", 1)[1] for part in value.split(";")
                          if part.split("=", 1)[0].lower() in ("accountkey", "sharedaccesssignature") and "=" in part]
    return tuple(found)


def open_filesystems(location: Location, storage_options: dict[str, Any] | None,
                     filesystem: fsspec.AbstractFileSystem | None, data_path: str = "auto") -> FileSystems:
    """Build the listing and data file systems for ``location``."""
    options = dict(storage_options or {})
    if data_path not in ("auto", "native", "fsspec"):
        raise BadSpecError("data_path must be 'auto', 'native' or 'fsspec'")
    secrets = option_secrets(options)
    if filesystem is not None:
        root = filesystem._strip_protocol(location.without_userinfo())
        return FileSystems(filesystem, root, _wrapped(filesystem), secrets=secrets)
    scheme = location.scheme
    if scheme in S3_SCHEMES and location.raw_userinfo is not None:
        # s3://KEY:SECRET@bucket/... (as pyarrow takes it): credentials go to the client, never into paths
        options.setdefault("key", location.username)
        if location.password:
            options.setdefault("secret", location.password)
    if scheme in S3_SCHEMES:
        return _s3(location, options, secrets, data_path)
    if scheme in ("http", "https"):
        return _http(location, options, secrets)
    if scheme in AZURE_SCHEMES:  # adlfs reads these itself when no option names the account
        secrets += option_secrets({"connection_string": os.environ.get("AZURE_STORAGE_CONNECTION_STRING", ""),
                                   "account_key": os.environ.get("AZURE_STORAGE_ACCOUNT_KEY", ""),
                                   "sas_token": os.environ.get("AZURE_STORAGE_SAS_TOKEN", ""),
                                   "client_secret": os.environ.get("AZURE_STORAGE_CLIENT_SECRET", "")})
    if scheme in AZURE_SCHEMES + GCS_SCHEMES:
        # fresh listings every read: a cached listing would record stale ETags and hide changes
        options.setdefault("use_listings_cache", False)
    preflight = None
    if scheme in GCS_SCHEMES:
        endpoint = options.get("endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST") or GCS_ENDPOINT
        if not isinstance(endpoint, str):
            raise BadSpecError(f"endpoint_url must be a URL string, got {type(endpoint).__name__}")
        preflight = functools.partial(_check_reachable, endpoint, location)
    try:
        fs, root = fsspec.core.url_to_fs(location.raw, **options)  # user info here is the store's (az container)
    except ImportError as exc:
        raise MissingExtraError(f"reading {scheme}:// locations", _extra_for(scheme), exc.name or "fsspec backend") from exc
    except (TypeError, ValueError) as exc:
        raise BadSpecError(f"bad storage_options for {location.redacted()}: {type(exc).__name__}") from None
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    if "file" in protocols or "local" in protocols:
        return FileSystems(fs, root, pafs.LocalFileSystem(), secrets=secrets, data_path="native")
    return FileSystems(fs, root, _wrapped(fs), secrets=secrets, preflight=preflight)


def _s3(location: Location, options: dict[str, Any], secrets: tuple[str, ...], data_path: str) -> FileSystems:
    try:
        import s3fs
    except ImportError as exc:
        raise MissingExtraError("reading s3:// locations", "s3", exc.name or "s3fs") from exc
    settings = S3Settings.resolve(options)
    s3fs_options = settings.s3fs_options(options)
    try:
        # plain listings (ListObjectVersions would return every old version too), version-aware reads
        fs = s3fs.S3FileSystem(**{**s3fs_options, "version_aware": False})
        versions = s3fs.S3FileSystem(**{**s3fs_options, "version_aware": True})
    except TypeError as exc:
        raise BadSpecError(f"bad storage_options for {location.redacted()}: {type(exc).__name__}") from None
    root = fs._strip_protocol(location.without_userinfo())
    pinned = _wrapped(versions)
    native_ok = set(options) <= S3_NATIVE_OPTIONS
    if data_path == "native" and not native_ok:
        unknown = ", ".join(sorted(set(options) - S3_NATIVE_OPTIONS))
        raise BadSpecError(f"the native S3 data path cannot honour the storage option(s) {unknown}")
    use_native = data_path == "native" or (data_path == "auto" and native_ok)
    arrow_fs = settings.native() if use_native else pinned
    return FileSystems(fs, root, arrow_fs, pinned_fs=pinned, secrets=secrets + settings.secrets,
                       data_path="native" if use_native else "fsspec", head_versions=True,
                       versions_fs=versions, native_s3=arrow_fs if use_native else None)


def _http(location: Location, options: dict[str, Any], secrets: tuple[str, ...]) -> FileSystems:
    try:
        from fsspec.implementations.http import HTTPFileSystem
    except ImportError as exc:  # pragma: no cover - aiohttp missing
        raise MissingExtraError("reading http(s):// locations", "http", exc.name or "aiohttp") from exc
    if location.raw_userinfo is not None:
        # user info becomes an Authorization header: a URL holding it would end up in every
        # object path (records, events) and in fsspec's own log lines
        pair = f"{location.username or ''}:{location.password or ''}".encode()
        client = dict(options.get("client_kwargs") or {})
        headers = dict(client.get("headers") or {})
        headers.setdefault("Authorization", "Basic " + base64.b64encode(pair).decode())
        options = {**options, "client_kwargs": {**client, "headers": headers}}
    try:
        fs = HTTPFileSystem(skip_instance_cache=True, use_listings_cache=False, **options)
    except ImportError as exc:
        raise MissingExtraError("reading http(s):// locations", "http", exc.name or "aiohttp") from exc
    return FileSystems(fs, location.without_userinfo(), _wrapped(fs), secrets=secrets)


def _check_reachable(endpoint: str, location: Location) -> None:
    """Fail fast when the store's endpoint cannot be reached at all.

    gcsfs discovers credentials (a metadata server) and retries each request
    with back-off: without a network a read took 50 s to fail. One TCP connect
    with a short timeout answers the question first.
    """
    if not isinstance(endpoint, str):
        raise BadSpecError(f"endpoint_url must be a URL string, got {type(endpoint).__name__}")
    try:
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadSpecError(f"the endpoint for {location.redacted()} has a malformed port") from None
    try:
        socket.create_connection((parts.hostname or "", port), timeout=REACHABLE_TIMEOUT).close()
    except OSError as exc:
        raise SourceUnavailableError(f"cannot reach {location.redacted()}: {parts.hostname}:{port} "
                                     f"({exc.strerror or type(exc).__name__})") from None


def _wrapped(fs: fsspec.AbstractFileSystem) -> pafs.FileSystem:
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))


def _extra_for(scheme: str) -> str | None:
    from ...registry import BUILTIN

    return BUILTIN.get(scheme, (None, None))[1]
