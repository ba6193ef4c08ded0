"""Adapters from alftc tables to training frameworks.

Each adapter lives in its own module and imports its framework lazily, so
``import alftc.adapters.trl`` works without TRL installed:

- :mod:`alftc.adapters.trl`: a reward function for TRL's ``GRPOTrainer`` and
  ``AsyncGRPOTrainer``;
- :mod:`alftc.adapters.verl`: ``compute_score``, a group function and a batch
  reward manager for verl;
- :mod:`alftc.adapters.openrlhf`: rewards for answers reshaped to (groups, K),
  and a ``reward_func`` for OpenRLHF's custom reward file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from alftc.errors import InputError
from alftc.runtime.extract import extract_answer
from alftc.runtime.table import Estimator, TableFile, load_table

__all__ = ["resolve_estimator", "completion_text", "Extractor"]

Extractor = Callable[[str], Any]


def resolve_estimator(table, family: str | None = None, method: str | None = None,
                      variant: str = "default") -> Estimator:
    """Return the estimator for a table given as a path, a :class:`TableFile` or an :class:`Estimator`.

    ``family`` and ``method`` are required unless ``table`` is already an
    :class:`Estimator`; the error lists the choices the table offers.
    """
    if isinstance(table, Estimator):
        if family is not None or method is not None:
            raise InputError(
                f"table is already the estimator {table.name}; drop family/method or pass the table file"
            )
        return table
    if isinstance(table, (str, Path)):
        table = load_table(table)
    if not isinstance(table, TableFile):
        raise InputError(
            f"table must be a path, a TableFile or an Estimator, got {type(table).__name__}"
        )
    if family is None or method is None:
        choices = ", ".join("/".join(choice) for choice in table.choices())
        raise InputError(
            f"give family= and method= to pick a row set of {table.source}; it has: {choices}"
        )
    return table.select(family=family, method=method, variant=variant)


def completion_text(completion) -> str:
    """Return the text of a plain (str) or conversational (list of messages) completion.

    For a conversation, the content of the last ``assistant`` message is
    returned (the last message when none has that role). Content given as a
    list of blocks is joined from its ``text`` blocks.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)) or not completion:
        raise InputError(
            f"a completion must be a string or a list of {{'role', 'content'}} messages, "
            f"got {type(completion).__name__}"
        )
    messages = [m for m in completion if isinstance(m, dict) and m.get("role") == "assistant"]
    message = messages[-1] if messages else completion[-1]
    if not isinstance(message, dict) or "content" not in message:
        raise InputError(f"a conversational completion message needs a 'content' key, got {message!r}")
    content = message["content"]
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return "" if content is None else str(content)


def default_extractor(text: str):
    """Extract and normalise a final answer with :func:`alftc.runtime.extract.extract_answer`."""
    return extract_answer(text)
