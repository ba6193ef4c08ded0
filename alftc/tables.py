"""Write and read table files: one JSON and one HDF5 file with the same content.

Writes are atomic. Each file is written to a temporary sibling, flushed to
disk, and moved into place with :func:`os.replace`, so an interrupted or failed
build leaves the previous files intact and no partial file behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from alftc import __version__
from alftc.errors import TableFileError
from alftc.rows import Row
from alftc.runtime.format import (
    SCHEMA,
    SCHEMA_VERSION,
    TableFormatError,
    document_checksum,
    read_document,
)

__all__ = [
    "DEFAULT_NAME",
    "creation_time",
    "make_document",
    "write_tables",
    "load_rows",
    "table_paths",
]

DEFAULT_NAME = "alftc-tables"


def creation_time() -> str:
    """Return the creation time in ISO 8601 UTC, honouring SOURCE_DATE_EPOCH."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            seconds = int(epoch)
        except ValueError:
            raise TableFileError(
                f"invalid SOURCE_DATE_EPOCH={epoch!r}: expected an integer number of seconds"
            ) from None
        moment = _dt.datetime.fromtimestamp(seconds, tz=_dt.timezone.utc)
    else:
        moment = _dt.datetime.now(tz=_dt.timezone.utc).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_document(rows: Iterable[Row], parameters: dict[str, Any], precision: dict[str, Any]) -> dict[str, Any]:
    """Assemble a table document with sorted rows and its checksum."""
    ordered = sorted(rows, key=Row.sort_key)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "alftc_version": __version__,
        "created": creation_time(),
        "parameters": parameters,
        "precision": precision,
        "rows": [row.to_json() for row in ordered],
    }
    doc["checksum"] = {"algorithm": "sha256", "value": document_checksum(doc)}
    return doc


def table_paths(out_dir: str | Path, name: str = DEFAULT_NAME) -> tuple[Path, Path]:
    """Return the (JSON, HDF5) paths of a table called ``name`` in ``out_dir``."""
    out_dir = Path(out_dir)
    return out_dir / f"{name}.json", out_dir / f"{name}.h5"


def load_rows(path: str | Path) -> tuple[dict[str, Any], list[Row]]:
    """Read a table file, check it, and return its document and rows."""
    try:
        doc = read_document(path)
    except TableFormatError as error:
        raise TableFileError(str(error)) from None
    return doc, [Row.from_json(obj) for obj in doc["rows"]]


def write_tables(doc: dict[str, Any], json_path: Path, hdf5_path: Path, *, _hook=None) -> None:
    """Write ``doc`` to both files atomically.

    Both temporary files are complete before either replaces its target. On
    any exception, the temporary files are removed and the targets are left
    as they were. ``_hook`` is a test seam called between writing and moving.
    """
    json_path, hdf5_path = Path(json_path), Path(hdf5_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    hdf5_path.parent.mkdir(parents=True, exist_ok=True)
    temporaries: list[Path] = []
    try:
        json_tmp = _temporary_sibling(json_path)
        temporaries.append(json_tmp)
        _write_json(doc, json_tmp)
        hdf5_tmp = _temporary_sibling(hdf5_path)
        temporaries.append(hdf5_tmp)
        _write_hdf5(doc, hdf5_tmp)
        if _hook is not None:
            _hook()
        os.replace(json_tmp, json_path)
        os.replace(hdf5_tmp, hdf5_path)
        temporaries.clear()
    finally:
        for path in temporaries:
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def _temporary_sibling(path: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    # mkstemp creates mode 0600; give the table the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


def _write_json(doc: dict[str, Any], path: Path) -> None:
    text = json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=True, allow_nan=False) + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _write_hdf5(doc: dict[str, Any], path: Path) -> None:
    """Write the HDF5 twin of ``doc`` with no timestamps, so equal documents give equal bytes."""
    import h5py
    import numpy as np

    strings = h5py.string_dtype("utf-8")
    with h5py.File(path, "w", libver=("earliest", "v110"), track_order=False) as handle:
        attrs = handle.attrs
        attrs["schema"] = doc["schema"]
        attrs["schema_version"] = np.int64(doc["schema_version"])
        attrs["alftc_version"] = doc["alftc_version"]
        attrs["created"] = doc["created"]
        attrs["parameters"] = _compact_json(doc["parameters"])
        attrs["precision"] = _compact_json(doc["precision"])
        attrs["checksum_algorithm"] = doc["checksum"]["algorithm"]
        attrs["checksum"] = doc["checksum"]["value"]
        rows_group = _create_group(handle, "rows")
        for index, row in enumerate(doc["rows"]):
            group = _create_group(rows_group, f"{index:06d}")
            for name in ("key", "family", "beta", "method", "variant", "bias_decimal", "variance_decimal"):
                group.attrs[name] = row[name]
            group.attrs["K"] = np.int64(row["K"])
            group.attrs["bias"] = np.float64(row["bias"])
            group.attrs["variance"] = np.float64(row["variance"])
            group.attrs["exact"] = np.bool_(row["exact"])
            group.attrs["facts"] = _compact_json(row["facts"])
            group.create_dataset("values", data=np.asarray(row["values"], dtype=np.float64), track_times=False)
            group.create_dataset(
                "values_decimal", data=np.asarray(row["values_decimal"], dtype=object), dtype=strings, track_times=False
            )
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _create_group(parent, name: str):
    """Create a group without modification times, which would break byte reproducibility."""
    import h5py

    properties = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    properties.set_obj_track_times(False)
    h5py.h5g.create(parent.id, name.encode("utf-8"), gcpl=properties)
    return parent[name]


def _compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
