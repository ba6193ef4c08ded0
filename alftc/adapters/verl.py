"""verl adapters: a per-sample ``compute_score``, a group function and a batch reward manager.

verl's ``compute_score`` sees one sample at a time, so it cannot count a
group's answers. Use it for validation: it returns the normalised answer as
``pred`` (verl's maj@N metrics group on it) and a 0/1 match against the
ground truth. The group reward comes from :func:`group_rewards` or from
:class:`AlftcRewardManager`, which receives the whole batch and groups
samples by ``non_tensor_batch["uid"]`` (the id verl gives all rollouts of one
prompt), so the batch order does not matter.

The manager follows the interface of verl's reward managers (checked against
verl 0.9.1): ``__init__(tokenizer, num_examine, compute_score, reward_fn_key,
**kwargs)`` and ``__call__(data, return_dict=False)``, returning a float32
tensor shaped like ``data.batch["responses"]`` with each reward at the last
valid response token. verl itself is imported only by
:func:`register_with_verl`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Sequence

from alftc.adapters import default_extractor, resolve_estimator
from alftc.errors import InputError
from alftc.runtime.extract import normalize_answer

__all__ = ["compute_score", "group_rewards", "AlftcRewardManager", "register_with_verl"]


def compute_score(data_source: str, solution_str: str, ground_truth: Any = None,
                  extra_info: dict | None = None, **kwargs) -> dict[str, Any]:
    """Score one sample for validation: ``{"score": 0/1 match, "pred": answer or ""}``.

    Parameters
    ----------
    data_source, extra_info
        Passed by verl; unused.
    solution_str
        The decoded response.
    ground_truth
        The reference answer, normalised with
        :func:`~alftc.runtime.extract.normalize_answer` before comparing;
        ``None`` gives score 0.
    extractor
        Optional keyword: ``text -> str | None`` replacing the default.

    Returns
    -------
    dict
        ``score`` (1.0 when the extracted answer equals the normalised ground
        truth, else 0.0) and ``pred`` (the normalised answer, ``""`` when
        unparseable).
    """
    extractor = kwargs.get("extractor") or default_extractor
    prediction = extractor(solution_str)
    truth = normalize_answer(str(ground_truth)) if ground_truth is not None else None
    matched = prediction is not None and truth is not None and prediction == truth
    return {"score": 1.0 if matched else 0.0, "pred": "" if prediction is None else str(prediction)}


def group_rewards(estimator, answers: Sequence[Any], uids: Sequence[Any], *, invalid: str = "singleton",
                  invalid_value: float | None = None):
    """Return one reward per answer, counting answers within groups of equal uid.

    ``estimator`` is an :class:`~alftc.runtime.Estimator`; ``answers`` holds
    hashable answers (``None`` when unparseable) and ``uids`` the group id
    of each. K of a group is its number of samples.
    """
    return estimator.rewards_by_group(list(answers), list(uids), invalid=invalid, invalid_value=invalid_value)


class AlftcRewardManager:
    """verl batch reward manager for alftc group-count rewards.

    Parameters
    ----------
    tokenizer
        Decodes ``data.batch["responses"]`` (``skip_special_tokens=True``).
    num_examine
        Accepted for verl's interface; this manager never prints.
    compute_score
        Ignored (verl passes its default); rewards come from the table.
    reward_fn_key
        Accepted for verl's interface.
    table, family, method, variant
        The table file (path, TableFile or Estimator) and row set. verl passes
        these from ``reward_model.reward_kwargs``.
    extractor
        ``text -> hashable | None``; defaults to
        :func:`alftc.runtime.extract.extract_answer`.
    invalid, invalid_value
        Policy for unparseable answers: ``"singleton"`` or ``"value"``. The
        reward tensor needs a number for every sample, so ``"skip"`` is
        rejected.
    """

    def __init__(self, tokenizer, num_examine: int = 0, compute_score: Callable | None = None,
                 reward_fn_key: str = "data_source", *, table=None, family: str | None = None,
                 method: str | None = None, variant: str = "default",
                 extractor: Callable[[str], Any] | None = None, invalid: str = "singleton",
                 invalid_value: float | None = None, **kwargs):
        if table is None:
            raise InputError(
                "AlftcRewardManager needs table=PATH (and family=, method=); in verl set them in "
                "reward_model.reward_kwargs"
            )
        if invalid == "skip":
            raise InputError("invalid='skip' leaves no reward for the tensor; use 'singleton' or 'value'")
        self.tokenizer = tokenizer
        self.num_examine = num_examine
        self.reward_fn_key = reward_fn_key
        self.estimator = resolve_estimator(table, family, method, variant)
        self.extractor = extractor if extractor is not None else default_extractor
        self.invalid = invalid
        self.invalid_value = invalid_value

    def decode_responses(self, data) -> tuple[list[str], list[int]]:
        """Return the decoded valid part of each response and its length in tokens."""
        prompt_length = data.batch["prompts"].shape[-1]
        lengths = data.batch["attention_mask"][:, prompt_length:].sum(dim=-1).tolist()
        responses = data.batch["responses"]
        texts = [
            self.tokenizer.decode(responses[i][:length], skip_special_tokens=True)
            for i, length in enumerate(lengths)
        ]
        return texts, [int(length) for length in lengths]

    def __call__(self, data, return_dict: bool = False):
        """Return the token-level reward tensor (and extra info when ``return_dict``)."""
        import torch

        if "uid" not in data.non_tensor_batch:
            raise InputError(
                "data.non_tensor_batch has no 'uid'; verl sets it to group rollouts of one prompt, "
                "and alftc needs it to count answers per group"
            )
        texts, lengths = self.decode_responses(data)
        answers = [self.extractor(text) for text in texts]
        uids = list(data.non_tensor_batch["uid"])
        rewards = group_rewards(self.estimator, answers, uids, invalid=self.invalid,
                                invalid_value=self.invalid_value)

        reward_tensor = torch.zeros_like(data.batch["responses"], dtype=torch.float32)
        for i, (length, value) in enumerate(zip(lengths, rewards)):
            # An empty response keeps its reward at position 0.
            reward_tensor[i, max(length - 1, 0)] = value
        if not return_dict:
            return reward_tensor

        extra: dict[str, list] = defaultdict(list)
        extra["score"] = [float(value) for value in rewards]
        extra["pred"] = ["" if answer is None else str(answer) for answer in answers]
        return {"reward_tensor": reward_tensor, "reward_extra_info": extra}


def register_with_verl(name: str = "alftc") -> type:
    """Register :class:`AlftcRewardManager` in verl's reward-manager registry under ``name``.

    After this, ``reward_model.reward_manager=alftc`` selects it. Needs verl.
    """
    from verl.workers.reward_manager import register

    return register(name)(AlftcRewardManager)
