"""Files and object stores: fsspec for listing, pyarrow.dataset for reading.

Each read lists the matching objects once, records each one (path, size,
mtime, ETag/checksum, version id where the store keeps versions) as the
snapshot, and then reads exactly those objects, so a file that appears
during the read is not half-included.
"""

from .source import FilesAdapter, FileSource

__all__ = ["FilesAdapter", "FileSource"]
