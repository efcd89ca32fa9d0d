"""A data loader whose worker processes keep loading across the end of an epoch.

A ``DataLoader`` asks its workers for the next epoch's first batches only when that epoch's
``iter()`` is called: with ``persistent_workers`` the workers stay alive but sit idle while
the last batches are consumed, and the first ``prefetch_factor * num_workers`` iterations of
every epoch wait for data (on an H200 the main job's 25 epoch starts cost 1.4 s of its 19).
``EpochSpanningLoader`` runs one iterator over an endless chain of epochs instead (epoch ``e``,
then ``e + 1``, ...; the sampler's ``set_epoch`` is called for each), and hands out each
epoch's ``len()`` batches per ``iter()``: the same batches in the same order as the plain
loader, with the workers already busy on the next epoch while this one ends.

The sampler must draw each epoch from its epoch alone (``set_epoch``, as
``DistributedGroupSampler`` and a seeded ``GroupSampler`` do) or not shuffle: the next
epoch's order is drawn ahead, whenever the loader needs it. ``set_epoch`` on this loader's
``sampler`` names the epoch the next ``iter()`` starts; the chain restarts there when it is
not the one that follows (a resumed run), and after an ``iter()`` that was left early.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader, Sampler, SequentialSampler

__all__ = ["EpochSpanningLoader", "spans_epochs"]


def spans_epochs(sampler: Any) -> bool:
    """Whether an epoch of ``sampler`` can be drawn ahead: it is ``None`` or sequential, or it
    draws from its epoch alone (``set_epoch``, and a ``seed`` that is not None where it has
    that attribute: an unseeded ``GroupSampler`` draws from numpy's global state)."""
    if sampler is None or isinstance(sampler, SequentialSampler):
        return True
    return hasattr(sampler, "set_epoch") and getattr(sampler, "seed", 0) is not None


class _EpochCursor:
    """What the runner sees as the loader's ``sampler``: ``set_epoch`` names the next epoch."""

    def __init__(self, sampler: Any) -> None:
        self.epoch = int(getattr(sampler, "epoch", 0) or 0)
        self.requested = False
        self.wrapped = sampler

    def set_epoch(self, epoch: int) -> None:
        """The epoch that the next ``iter()`` of the loader yields."""
        self.epoch, self.requested = int(epoch), True

    def __len__(self) -> int:
        return len(self.wrapped)


class _EpochChain(Sampler):
    """Batches of indices of epoch ``start``, ``start + 1``, ... without end (``set_epoch`` on
    the sampler before each epoch); each epoch must give its ``len(batch_sampler)`` batches."""

    def __init__(self, batch_sampler: Any) -> None:
        self.batch_sampler = batch_sampler
        self.start = 0

    def __iter__(self) -> Iterator[list[int]]:
        sampler = getattr(self.batch_sampler, "sampler", None)
        epoch = self.start
        while True:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            expected, count = len(self.batch_sampler), 0
            for batch in self.batch_sampler:
                count += 1
                if count > expected:
                    break
                yield batch
            if count != expected:
                raise RuntimeError(
                    f"the sampler gave {'more than ' if count > expected else ''}{count} batches in "
                    f"epoch {epoch}, its len() says {expected}: an epoch-spanning loader needs the two to agree"
                )
            if expected == 0:
                raise RuntimeError(f"the sampler gave no batch in epoch {epoch}: nothing to load")
            epoch += 1

    def __len__(self) -> int:  # never asked for by the loader; an epoch's length
        return len(self.batch_sampler)


class EpochSpanningLoader:
    """``loader``'s batches, epoch after epoch, from one worker pool that never idles at an
    epoch's end. ``len()`` is an epoch's batches; ``sampler.set_epoch(e)`` as on a
    ``DataLoader``; other attributes (``dataset``, ``batch_size``, ``num_workers``, ...) are
    ``loader``'s.

    Raises:
        ValueError: ``loader`` has no workers (nothing to keep busy), or its sampler's order
            depends on more than its epoch (it could not be drawn ahead reproducibly).
    """

    def __init__(self, loader: DataLoader) -> None:
        if loader.num_workers <= 0:
            raise ValueError("an epoch-spanning loader needs worker processes (num_workers > 0)")
        if loader.batch_sampler is None:
            raise ValueError("an epoch-spanning loader needs batches (batch_size=None gives single items)")
        if not spans_epochs(loader.sampler):
            raise ValueError(
                f"{type(loader.sampler).__name__} shuffles from global random state: an epoch-spanning "
                "loader draws the next epoch ahead and needs a sampler with set_epoch (give it a seed)"
            )
        self.loader = loader
        self.sampler = _EpochCursor(loader.sampler)
        self._chain = _EpochChain(loader.batch_sampler)
        extra = {} if loader.prefetch_factor is None else {"prefetch_factor": loader.prefetch_factor}
        for name in ("in_order", "pin_memory_device"):  # (torch versions that have them)
            if hasattr(loader, name):
                extra[name] = getattr(loader, name)
        self._endless = DataLoader(
            loader.dataset,
            batch_sampler=self._chain,
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory,
            timeout=loader.timeout,
            worker_init_fn=loader.worker_init_fn,
            multiprocessing_context=loader.multiprocessing_context,
            generator=loader.generator,  # (the workers' base seed is drawn from it)
            **extra,
        )
        self._iterator: Iterator[Any] | None = None
        self._next_epoch: int | None = None

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not set yet (during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[Any]:
        cursor = self.sampler
        epoch = cursor.epoch if cursor.requested or self._next_epoch is None else self._next_epoch
        cursor.requested = False
        if self._iterator is None or epoch != self._next_epoch:
            self._iterator = None  # its workers stop before the new ones start
            self._chain.start = epoch
            self._iterator = iter(self._endless)
        return self._epoch(self._iterator, epoch)

    def _epoch(self, iterator: Iterator[Any], epoch: int) -> Iterator[Any]:
        total, done = len(self), 0
        self._next_epoch = None  # until this epoch is through
        try:
            for _ in range(total):
                yield next(iterator)
                done += 1
        finally:
            if iterator is self._iterator:
                if done == total:
                    self._next_epoch = epoch + 1
                    self.sampler.epoch = epoch + 1
                else:  # left early (or an error): the chain is mid-epoch, start afresh next time
                    self._iterator = None
