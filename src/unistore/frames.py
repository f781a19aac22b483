"""Results as pandas and polars frames that keep their provenance record.

pandas keeps metadata in ``DataFrame.attrs``, which its operations carry along
(a filter, ``head``, ``assign``...): :func:`to_pandas` puts the record there,
with a digest of the frame's content. polars frames have no metadata of their
own, so :func:`to_polars` remembers the frame it returned (weakly, with the
same kind of digest).

:func:`unistore.provenance_of` accepts both. The "derived" rule holds as for
Arrow tables: a frame whose content still matches the digest gets the read's
record; a changed one (filtered, edited in place, new columns) gets a derived
record — its own rows and fingerprint, the read as its parent.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import pyarrow as pa

from .provenance import Provenance, derive, provenance_of, register_finder

#: keys in ``DataFrame.attrs``
ATTRS_RECORD = "unistore.provenance"
ATTRS_DIGEST = "unistore.frame_digest"

_lock = threading.Lock()
#: id(polars frame) -> (the frame, weakly; its record; its digest when returned)
_polars: dict[int, tuple[weakref.ref[Any], Provenance, str]] = {}


def to_pandas(data: pa.Table | pa.RecordBatch, **kwargs: Any) -> Any:
    """``data.to_pandas(**kwargs)`` with the record in ``df.attrs["unistore.provenance"]``."""
    record = provenance_of(data)
    df = data.to_pandas(**kwargs)
    df.attrs[ATTRS_RECORD] = record.to_json()
    df.attrs[ATTRS_DIGEST] = _pandas_digest(df)
    return df


def to_polars(data: pa.Table | pa.RecordBatch) -> Any:
    """``polars.from_arrow(data)``, remembered with its record for :func:`unistore.provenance_of`."""
    import polars as pl

    record = provenance_of(data)
    df = pl.from_arrow(data)
    digest = _polars_digest(df)
    with _lock:
        for key in [k for k, (ref, _, _) in _polars.items() if ref() is None]:
            del _polars[key]
        _polars[id(df)] = (weakref.ref(df), record, digest)
    return df


def _pandas_digest(df: Any) -> str:
    """Shape, column names and dtypes, and the sum of pandas' row hashes (the order of rows does not count)."""
    import pandas as pd

    try:
        hashes = pd.util.hash_pandas_object(df, index=False).to_numpy()
        content = str(int(hashes.sum(dtype="uint64")))
    except TypeError:  # unhashable cells (lists, dicts): hash the Arrow form instead
        table = _arrow_of_pandas(df)
        content = table.schema.to_string() + repr(table.to_pylist())
    return f"{df.shape}|{list(map(str, df.columns))}|{list(map(str, df.dtypes))}|{content}"


def _polars_digest(df: Any) -> str:
    content = str(int(df.hash_rows().sum())) if df.height else "0"
    return f"{df.shape}|{df.columns}|{list(map(str, df.dtypes))}|{content}"


def _arrow_of_pandas(df: Any) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def _pandas_record(obj: Any) -> Provenance | None:
    attrs = getattr(obj, "attrs", None)
    if not isinstance(attrs, dict) or ATTRS_RECORD not in attrs or not hasattr(obj, "columns"):
        return None
    record = Provenance.from_json(attrs[ATTRS_RECORD])
    if attrs.get(ATTRS_DIGEST) == _pandas_digest(obj):
        return record
    return derive(record, _arrow_of_pandas(obj))


def _polars_record(obj: Any) -> Provenance | None:
    if type(obj).__module__.split(".")[0] != "polars":
        return None
    with _lock:
        entry = _polars.get(id(obj))
    if entry is None or entry[0]() is not obj:
        raise LookupError("this polars frame carries no unistore record: polars keeps no metadata, so only the "
                          "frame unistore.to_polars returned is known (take provenance_of before transforming it)")
    _, record, digest = entry
    return record if _polars_digest(obj) == digest else derive(record, obj.to_arrow())


register_finder(_pandas_record)
register_finder(_polars_record)
