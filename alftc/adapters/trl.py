"""A group-count reward function for TRL's ``GRPOTrainer`` and ``AsyncGRPOTrainer``.

TRL (checked against 1.16) calls each reward function as
``func(prompts=..., completions=..., completion_ids=..., **columns)`` and
expects one float or ``None`` per completion. The prompt sampler repeats each
prompt ``num_generations`` times in a row, and every process scores its own
slice of ``per_device_train_batch_size * steps_per_generation`` completions
before TRL gathers the rewards. A group-count reward therefore sees whole
groups only when that slice is a multiple of ``num_generations``. Otherwise,
pass ``gather=True`` to collect the answers of all processes first.
``AsyncGRPOTrainer`` scores one whole group per call, so it needs neither.

TRL itself is never imported here; torch is imported only for ``gather=True``.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

from alftc.adapters import completion_text, default_extractor, resolve_estimator
from alftc.errors import InputError

__all__ = ["AlftcReward", "GroupSplitError"]


class GroupSplitError(InputError):
    """A batch of completions does not consist of whole groups of ``num_generations``."""


class AlftcReward:
    """Picklable TRL reward function: r_K[c] for the count c of each completion's answer.

    Parameters
    ----------
    table
        A table file path, a :class:`~alftc.runtime.TableFile` or an
        :class:`~alftc.runtime.Estimator`. A path is loaded once, here.
    num_generations
        K, the group size; must equal the trainer's ``num_generations``
        (and ``num_generations_eval`` when evaluating).
    family, method, variant
        The row set, e.g. ``family="kl", method="aqp"``. Required unless
        ``table`` is an Estimator.
    extractor
        ``text -> hashable | None``; defaults to
        :func:`alftc.runtime.extract.extract_answer`. ``None`` marks an
        unparseable completion. Must be picklable for ``AsyncGRPOTrainer``
        (a module-level function, not a lambda).
    invalid, invalid_value
        Policy for unparseable completions (see :class:`~alftc.runtime.Estimator`).
        ``"skip"`` returns ``None``, which TRL turns into NaN and, when every
        reward function returns None for a completion, into a zero advantage.
    gather
        Collect prompts and answers from every process with
        ``torch.distributed.all_gather_object`` before counting, so groups
        split across processes are counted whole. Every process must call the
        function on each step (GRPOTrainer does). Do not use with
        ``AsyncGRPOTrainer``.
    name
        Name under which TRL logs the reward; defaults to
        ``alftc_<family>_<method>_<variant>``.

    Notes
    -----
    Each chunk of ``num_generations`` consecutive completions must share one
    prompt; a chunk that does not raises :class:`GroupSplitError`, because its
    counts would mix groups. Prompts are compared with ``==``, so a dataset
    that holds the same prompt twice in a row cannot be told apart from one
    group.
    """

    def __init__(self, table, num_generations: int, *, family: str | None = None,
                 method: str | None = None, variant: str = "default",
                 extractor: Callable[[str], Any] | None = None, invalid: str = "singleton",
                 invalid_value: float | None = None, gather: bool = False, name: str | None = None):
        self.estimator = resolve_estimator(table, family, method, variant)
        if not isinstance(num_generations, int) or num_generations < 1:
            raise InputError(f"num_generations must be a positive int, got {num_generations!r}")
        # Fail at set-up, not at the first step, when the table lacks this K.
        self.estimator.values(num_generations)
        self.num_generations = num_generations
        self.extractor = extractor if extractor is not None else default_extractor
        self.invalid = invalid
        self.invalid_value = invalid_value
        self.gather = gather
        self.__name__ = name or "alftc_" + re.sub(r"[^A-Za-z0-9]+", "_", self.estimator.name).strip("_")
        # Check the policy once now, with a group that has an unparseable answer.
        self.estimator.rewards([[None] * num_generations], invalid=invalid, invalid_value=invalid_value)

    def __repr__(self) -> str:
        return f"AlftcReward({self.estimator.name!r}, num_generations={self.num_generations})"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs) -> list[float | None]:
        """Return one reward per completion; see the class docstring."""
        if len(prompts) != len(completions):
            raise InputError(
                f"got {len(prompts)} prompts and {len(completions)} completions; TRL passes one prompt "
                f"per completion"
            )
        answers = [self.extractor(completion_text(completion)) for completion in completions]

        if self.gather:
            prompts, answers, start = _gather_across_processes(list(prompts), answers)
        else:
            start = 0

        self._check_groups(prompts)
        K = self.num_generations
        groups = [answers[i:i + K] for i in range(0, len(answers), K)]
        rewards = self.estimator.rewards(groups, invalid=self.invalid, invalid_value=self.invalid_value)
        flat = [value for group in rewards for value in group]

        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and answers:
            unparseable = sum(answer is None for answer in answers) / len(answers)
            log_metric(f"{self.__name__}/unparseable_fraction", unparseable)
        return flat[start:start + len(completions)]

    def _check_groups(self, prompts: Sequence[Any]) -> None:
        K = self.num_generations
        if len(prompts) % K != 0:
            raise GroupSplitError(
                f"this process has {len(prompts)} completions, not a multiple of num_generations = {K}, "
                f"so a group is split across processes and its answers cannot be counted here. "
                f"In TRL's GRPOTrainer each process scores per_device_train_batch_size * "
                f"steps_per_generation completions (per_device_eval_batch_size when evaluating): make "
                f"that a multiple of {K}, or create the reward with gather=True"
            )
        for start in range(0, len(prompts), K):
            chunk = prompts[start:start + K]
            if any(prompt != chunk[0] for prompt in chunk[1:]):
                raise GroupSplitError(
                    f"completions {start}..{start + K - 1} do not share one prompt, so they are not one "
                    f"group of num_generations = {K}. Check that num_generations matches the trainer's "
                    f"(and num_generations_eval when evaluating)"
                )


def _gather_across_processes(prompts: list, answers: list) -> tuple[list, list, int]:
    """Concatenate every process's prompts and answers in rank order; return this process's offset."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return prompts, answers, 0
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (prompts, answers))
    rank = dist.get_rank()
    start = sum(len(part[0]) for part in gathered[:rank])
    all_prompts = [prompt for part in gathered for prompt in part[0]]
    all_answers = [answer for part in gathered for answer in part[1]]
    return all_prompts, all_answers, start
