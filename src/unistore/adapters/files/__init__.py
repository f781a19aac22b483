"""Files and object stores: fsspec for listing, pyarrow.dataset for reading.

Each read lists the matching objects once, records each one (path, size,
mtime, ETag/checksum, S3 VersionId where the bucket keeps versions) as the
snapshot, and then reads exactly those objects, so a file that appears
during the read is not half-included.

- ``source``: the files adapter (local, memory, S3, GCS, Azure, HTTP)
- ``filesystems``: listing and data file systems per store, credentials kept out of sight
- ``formats``: Parquet, CSV, JSON lines, Arrow IPC, ORC
- ``delta``, ``iceberg``: table formats on files, whose versions make replay exact
- ``timetravel``: ``as_of=`` values for the table formats
- ``fragments``: read plans — files and Parquet row groups dealt into splits of about equal bytes
"""

from .source import FilesAdapter, FileSource

__all__ = ["FilesAdapter", "FileSource"]
