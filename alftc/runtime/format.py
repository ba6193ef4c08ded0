"""Read and check table documents (JSON or HDF5), with numpy and the standard library only.

Both file kinds decode to the same document: the JSON object described in
``docs/table-format.md``. h5py is imported only when an ``.h5`` file is read.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from alftc.errors import TableFileError

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "TableFormatError",
    "canonical_bytes",
    "document_checksum",
    "read_document",
    "read_json_document",
    "read_hdf5_document",
    "check_document",
]

SCHEMA = "alftc-table"
SCHEMA_VERSION = 1

_ROW_ATTRS = ("key", "family", "beta", "method", "variant")
_ROW_FLOAT_ATTRS = ("bias", "variance")
_ROW_TEXT_ATTRS = ("bias_decimal", "variance_decimal")


class TableFormatError(TableFileError, ValueError):
    """A table file is missing, truncated, corrupt, or written by a newer schema."""


def canonical_bytes(doc: dict[str, Any]) -> bytes:
    """Encode ``doc`` without its ``checksum`` member as canonical JSON bytes."""
    body = {key: value for key, value in doc.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.encode("utf-8")


def document_checksum(doc: dict[str, Any]) -> str:
    """Return the SHA-256 hex digest of :func:`canonical_bytes`."""
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()


def read_document(path: str | Path, *, check: bool = True) -> dict[str, Any]:
    """Read a table document from a ``.json`` or ``.h5`` file.

    Parameters
    ----------
    path
        The table file. The suffix selects the decoder: ``.h5``/``.hdf5`` read
        with h5py (imported here, not at module import), anything else as JSON.
    check
        When true (the default), check the schema, the schema version and the
        SHA-256 checksum, and raise :class:`TableFormatError` on a mismatch.
    """
    path = Path(path)
    if not path.exists():
        raise TableFormatError(
            f"table file not found: {path}; build one with 'alftc build --K 4..64 --out DIR'"
        )
    if path.suffix.lower() in (".h5", ".hdf5"):
        doc = read_hdf5_document(path)
    else:
        doc = read_json_document(path)
    if check:
        check_document(doc, path)
    return doc


def read_json_document(path: Path) -> dict[str, Any]:
    """Decode a JSON table file, raising :class:`TableFormatError` when it is not valid JSON."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
        doc = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TableFormatError(
            f"table file {path} is corrupt or truncated (invalid JSON: {error}); "
            f"rebuild it with 'alftc build' or restore it from version control"
        ) from None
    if not isinstance(doc, dict):
        raise TableFormatError(f"table file {path} is not an alftc table: top level is not an object")
    return doc


def read_hdf5_document(path: Path) -> dict[str, Any]:
    """Decode an HDF5 table file into the same document as its JSON twin."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            attrs = handle.attrs
            doc: dict[str, Any] = {
                "schema": _text(attrs["schema"]),
                "schema_version": int(attrs["schema_version"]),
                "alftc_version": _text(attrs["alftc_version"]),
                "created": _text(attrs["created"]),
                "parameters": json.loads(_text(attrs["parameters"])),
                "precision": json.loads(_text(attrs["precision"])),
            }
            rows = []
            group = handle["rows"]
            for name in sorted(group.keys()):
                rows.append(_read_hdf5_row(group[name]))
            doc["rows"] = rows
            doc["checksum"] = {
                "algorithm": _text(attrs["checksum_algorithm"]),
                "value": _text(attrs["checksum"]),
            }
    except TableFormatError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise TableFormatError(
            f"table file {path} is corrupt or truncated (HDF5 read failed: {error}); "
            f"rebuild it with 'alftc build' or restore it from version control"
        ) from None
    return doc


def _read_hdf5_row(group) -> dict[str, Any]:
    attrs = group.attrs
    row: dict[str, Any] = {name: _text(attrs[name]) for name in _ROW_ATTRS}
    row["K"] = int(attrs["K"])
    row["values"] = [float(x) for x in group["values"][()]]
    row["values_decimal"] = [_text(x) for x in group["values_decimal"][()]]
    for name in _ROW_FLOAT_ATTRS:
        row[name] = float(attrs[name])
    for name in _ROW_TEXT_ATTRS:
        row[name] = _text(attrs[name])
    row["exact"] = bool(attrs["exact"])
    row["facts"] = json.loads(_text(attrs["facts"]))
    return row


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def check_document(doc: dict[str, Any], path: str | Path = "<document>") -> None:
    """Check schema name, schema version, checksum and finite values of a document."""
    if doc.get("schema") != SCHEMA:
        raise TableFormatError(f"{path} is not an alftc table (schema {doc.get('schema')!r})")
    version = doc.get("schema_version")
    if not isinstance(version, int):
        raise TableFormatError(f"{path}: schema_version {version!r} is not an integer")
    if version > SCHEMA_VERSION:
        raise TableFormatError(
            f"{path} uses table schema version {version}, newer than this runtime's "
            f"{SCHEMA_VERSION}; upgrade alftc (pip install -U alftc) to read it"
        )
    checksum = doc.get("checksum")
    if not isinstance(checksum, dict) or checksum.get("algorithm") != "sha256":
        raise TableFormatError(f"{path}: missing or unknown checksum; the file is corrupt")
    try:
        actual = document_checksum(doc)
    except ValueError as error:
        raise TableFormatError(f"{path}: cannot encode document ({error}); the file is corrupt") from None
    if actual != checksum.get("value"):
        raise TableFormatError(
            f"{path}: SHA-256 checksum mismatch (stored {checksum.get('value')}, computed "
            f"{actual}); the file is corrupt or was edited by hand. Rebuild it with "
            f"'alftc build' or restore it from version control"
        )
    for row in doc.get("rows", []):
        values = row.get("values", [])
        if len(values) != row.get("K") or not all(
            isinstance(x, (int, float)) and math.isfinite(x) for x in values
        ):
            raise TableFormatError(f"{path}: row {row.get('key')!r} has missing or non-finite values")
