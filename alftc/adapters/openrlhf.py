"""OpenRLHF adapters: rewards for answers already shaped (groups, K), and a ``reward_func``.

OpenRLHF loads a custom reward file passed as ``--remote_rm_url
reward_func.py`` and calls its ``reward_func(queries, prompts, labels)``,
where each query is the prompt followed by the response. That batch is not
guaranteed to hold whole groups in order, so :func:`make_reward_func` groups
samples by prompt text. OpenRLHF is never imported here; torch is imported
only to return the reward tensor OpenRLHF expects.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from alftc.adapters import default_extractor, resolve_estimator
from alftc.errors import InputError
from alftc.runtime._tensors import is_torch_tensor

__all__ = ["group_rewards_2d", "make_reward_func"]


def group_rewards_2d(estimator, answers, *, extractor: Callable[[str], Any] | None = None,
                     invalid: str = "singleton", invalid_value: float | None = None):
    """Return rewards of shape (groups, K) for answers of shape (groups, K).

    Parameters
    ----------
    estimator
        An :class:`~alftc.runtime.Estimator`.
    answers
        An integer array or tensor of answer codes (counted by the fast
        path), or a list of ``groups`` lists of K answers: strings are passed
        through ``extractor`` when it is given, other hashables are used as
        they are (``None`` = unparseable).
    extractor
        ``text -> hashable | None`` applied to string answers.
    invalid, invalid_value
        Policy for unparseable answers (see :class:`~alftc.runtime.Estimator`).

    Returns
    -------
    numpy.ndarray, numpy.ma.MaskedArray or torch.Tensor
        float64 rewards of shape (groups, K); a tensor for tensor input.
    """
    if isinstance(answers, np.ndarray) or is_torch_tensor(answers):
        return estimator.rewards_from_codes(answers, invalid=invalid, invalid_value=invalid_value)
    groups = [list(group) for group in answers]
    if len({len(group) for group in groups}) > 1:
        raise InputError(
            f"answers must have shape (groups, K), but group sizes differ: "
            f"{sorted({len(group) for group in groups})}; use Estimator.rewards for ragged groups"
        )
    if extractor is not None:
        groups = [[extractor(a) if isinstance(a, str) else a for a in group] for group in groups]
    rewards = estimator.rewards(groups, invalid=invalid, invalid_value=invalid_value)
    if invalid == "skip":
        mask = np.array([[value is None for value in group] for group in rewards], dtype=bool)
        data = np.array([[0.0 if value is None else value for value in group] for group in rewards])
        return np.ma.MaskedArray(data, mask=mask)
    return np.array(rewards, dtype=np.float64).reshape(len(groups), -1)


def make_reward_func(table, *, family: str | None = None, method: str | None = None,
                     variant: str = "default", extractor: Callable[[str], Any] | None = None,
                     invalid: str = "singleton", invalid_value: float | None = None):
    """Return ``reward_func(queries, prompts, labels, **kwargs)`` for an OpenRLHF reward file.

    Samples are grouped by their prompt string, so K of a group is the
    number of samples of that prompt in the call, and the table must have
    that K. A prompt that appears twice in one batch forms a single group. The
    response is the query with its prompt prefix removed. ``"skip"`` is
    rejected because the reward tensor needs a number for every sample.

    The returned function gives ``{"rewards": tensor, "scores": tensor,
    "extra_logs": {"unparseable_fraction": tensor}}``.
    """
    if invalid == "skip":
        raise InputError("invalid='skip' leaves no reward for the tensor; use 'singleton' or 'value'")
    estimator = resolve_estimator(table, family, method, variant)
    extract = extractor if extractor is not None else default_extractor

    def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] = (), **kwargs):
        import torch

        if len(queries) != len(prompts):
            raise InputError(f"got {len(queries)} queries and {len(prompts)} prompts; expected one prompt per query")
        responses = [q[len(p):] if q.startswith(p) else q for q, p in zip(queries, prompts)]
        answers = [extract(response) for response in responses]
        rewards = estimator.rewards_by_group(answers, list(prompts), invalid=invalid, invalid_value=invalid_value)
        tensor = torch.tensor(rewards, dtype=torch.float32)
        unparseable = sum(answer is None for answer in answers) / max(len(answers), 1)
        return {
            "rewards": tensor,
            "scores": tensor,
            "extra_logs": {"unparseable_fraction": torch.tensor(unparseable)},
        }

    return reward_func
