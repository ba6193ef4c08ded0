"""Runtime: load reward tables and turn grouped answers into rewards.

Needs numpy only. h5py is imported when an ``.h5`` table is read, and torch
only when a caller passes torch tensors.

Example
-------
>>> from alftc.runtime import load_table                       # doctest: +SKIP
>>> table = load_table("tables/alftc-tables.json")             # doctest: +SKIP
>>> estimator = table.select(family="kl", method="plugin")     # doctest: +SKIP
>>> estimator.rewards([["4", "4", "5", None]])                 # doctest: +SKIP
"""

from alftc.runtime.extract import extract_answer, extract_boxed, extract_answer_phrase, normalize_answer
from alftc.runtime.format import TableFormatError
from alftc.runtime.grouping import counts_from_codes
from alftc.runtime.table import (
    CountRangeError,
    Estimator,
    RowKey,
    TableFile,
    TableLookupError,
    load_table,
)

__all__ = [
    "CountRangeError",
    "Estimator",
    "RowKey",
    "TableFile",
    "TableFormatError",
    "TableLookupError",
    "counts_from_codes",
    "extract_answer",
    "extract_answer_phrase",
    "extract_boxed",
    "load_table",
    "normalize_answer",
]
