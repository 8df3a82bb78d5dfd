"""``--time-budget``: fit a run's epoch count to a wall-clock budget, and keep it within it.

The engine times a few training steps (after warm-up steps), one validation batch and one
checkpoint save, then `fit_epochs` picks the largest epoch count whose estimated end
(set-up already spent + epochs x (train + validation + saving) + the closing work: the best
checkpoint scored under the run's test-time augmentation, and the final files) fits the
budget. The schedule (cosine, step, ...) is built for that count, so it completes. After each
epoch `BudgetPlan.refit` checks the estimate against the measured epochs and refits the
plan and its schedule: shorter when epochs run slower (a loaded machine), longer when they run
faster (late in a run, by at most one epoch of the schedule per refit); a hard deadline at
budget + 5 % stops an epoch that overruns even that, keeping the last committed checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BudgetClock", "BudgetPlan", "TimeBudgetError", "fit_epochs", "OVERRUN", "FINAL_SECONDS"]

OVERRUN = 0.05  # the run ends within the budget plus this fraction
FINAL_SECONDS = 2.0  # summary.json, curves.png, the closing lines and the interpreter exit
WARMUP_FRACTION = 0.2  # warm-up takes at most this fraction of the fitted epochs
# A plan grows only by epochs that fit when each takes this much longer than the slowest of the
# last three: epoch times of a 30-minute run on 2 idle cores varied by about 2 % (docs/training.md).
GROW_HEADROOM = 0.02


class TimeBudgetError(ValueError):
    """The budget cannot hold even one epoch of this run on this machine."""


@dataclass
class BudgetClock:
    """Seconds spent on a run: ``spent_before`` in earlier sessions (a resumed run) plus the time
    since ``started`` (a ``time.perf_counter()`` reading taken when `lucid.train.train` was
    called, so data set-up counts)."""

    minutes: float
    started: float = field(default_factory=time.perf_counter)
    spent_before: float = 0.0

    @property
    def seconds(self) -> float:
        return 60.0 * self.minutes

    def elapsed(self) -> float:
        return self.spent_before + time.perf_counter() - self.started

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def hard_deadline_passed(self, reserve: float = 0.0) -> bool:
        """Past budget + 5 %, less the closing files' time and ``reserve`` (validating and saving
        the epoch being cut short): stop training now."""
        return self.elapsed() > self.seconds * (1 + OVERRUN) - FINAL_SECONDS - reserve


def fit_epochs(available: float, epoch_seconds: float, cap: int) -> int:
    """The most whole epochs of ``epoch_seconds`` that fit in ``available`` seconds, at most ``cap``."""
    if epoch_seconds <= 0 or not math.isfinite(epoch_seconds):
        raise ValueError(f"epoch time must be a positive number of seconds, got {epoch_seconds!r}")
    return max(0, min(cap, int(available // epoch_seconds)))


@dataclass
class BudgetPlan:
    """What the budget was fitted from and to; stored in the training state and summary.json.

    ``epochs`` is the current plan (refitted after each epoch, see `refit`), ``epochs_fitted``
    the count first fitted from the probe, ``epochs_cap`` the user's ``--epochs`` bound (or
    `lucid.train.config.MAX_EPOCHS`). Times are seconds: ``setup`` before the probe,
    ``train`` / ``validate`` / ``save`` per epoch as estimated, ``epoch`` their sum, and
    ``closing`` kept once for the end of the run (scoring the best checkpoint with test-time
    flip; re-estimated from each epoch's validation).
    """

    minutes: float
    epochs: int
    epochs_fitted: int
    epochs_cap: int
    steps_per_epoch: int
    setup: float
    step: float
    train: float
    validate: float
    save: float
    epoch: float
    measured_epochs: list[float] = field(default_factory=list)
    refits: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    closing: float = 0.0  # the default: plans recorded before it was kept

    @classmethod
    def fit(
        cls,
        clock: BudgetClock,
        *,
        cap: int,
        steps_per_epoch: int,
        setup: float,
        step: float,
        validate: float,
        save: float,
        closing: float = 0.0,
    ) -> BudgetPlan:
        """Fit the epoch count to what is left of ``clock``'s budget; `TimeBudgetError` when
        not even one epoch fits."""
        train = step * steps_per_epoch
        epoch = train + validate + save
        available = clock.remaining() - FINAL_SECONDS - closing
        epochs = fit_epochs(available, epoch, cap)
        if epochs < 1:
            need = (clock.elapsed() + epoch + closing + FINAL_SECONDS) / 60
            raise TimeBudgetError(
                f"--time-budget {clock.minutes:g} min is too short: one epoch takes ~{epoch:.1f} s here "
                f"(measured) and {clock.elapsed():.1f} s are already spent on set-up; give at least "
                f"{math.ceil(need * 10) / 10:g} min, or shrink the epoch with --limit-train / --img-size"
            )
        return cls(
            clock.minutes,
            epochs,
            epochs,
            cap,
            steps_per_epoch,
            setup,
            step,
            train,
            validate,
            save,
            epoch,
            closing=closing,
        )

    def refit(self, clock: BudgetClock, done: int, epoch_seconds: float, *, may_grow: bool) -> int:
        """The epoch count after ``done`` epochs given the measured ``epoch_seconds`` (training,
        validation and saving of one epoch): shortened when the rest would overrun the budget;
        lengthened up to ``--epochs`` when ``may_grow`` (after the first epoch of a fresh run) or
        while at most half the plan is done (a probe timed on a busy machine fitted too few
        epochs, and the load has gone: early on, a longer schedule barely moves the learning
        rate); later, back up to the most epochs planned before, when a slowdown had shortened
        the plan and epochs got faster again, or by as much as sets the schedule back one epoch
        (`_one_epoch_back`: a longer plan raises a decayed learning rate). It shrinks on the last
        three epochs' mean pace but grows only by epochs that fit at the slowest of them with
        `GROW_HEADROOM` (`_robust`), so noise does not move it back and forth. Never below
        ``done``. Records the change."""
        self.measured_epochs.append(round(epoch_seconds, 3))
        recent = self.measured_epochs[-3:]
        per_epoch = max(sum(recent) / len(recent), 1e-6)
        more = fit_epochs(self._available(clock), per_epoch, max(self.epochs_cap - done, 0))
        wanted = done + more
        if wanted <= self.epochs:
            new = wanted
        else:
            early = may_grow or 2 * done <= self.epochs
            limit = self.epochs_cap if early else max(self._ceiling(), self._one_epoch_back(done))
            new = max(self.epochs, min(limit, self._robust(clock, done, max(recent))))
        new = max(new, done)
        if new != self.epochs:
            self.refits.append(
                {"after_epoch": done, "seconds_per_epoch": round(per_epoch, 3), "from": self.epochs, "to": new}
            )
            self.epochs = new
        return new

    def _one_epoch_back(self, done: int) -> int:
        """The longest plan that sets the schedule back by at most one epoch: at ``done`` epochs
        of it, the schedule stands no earlier than where the last epoch began in the current plan
        (``done / new >= (done - 1) / epochs``), so the next epoch starts at a learning rate no
        higher than the last one started at. Cosine and poly rates fall with that fraction; with
        warm-up, which a refit keeps at its epochs, the true bound is a little higher. Found: a
        3-minute segmentation run whose probe overestimated its 6 epochs by a quarter ended 41 s
        early, when a 7th and an 8th fitted."""
        return done * self.epochs // (done - 1) if done > 1 else self.epochs_cap

    def _ceiling(self) -> int:
        """The most epochs ever planned: what a slowdown took can be regained, no more."""
        return max([self.epochs, self.epochs_fitted, *(refit["from"] for refit in self.refits)])

    def _robust(self, clock: BudgetClock, done: int, slowest: float) -> int:
        """The epoch count that fits if every remaining epoch takes ``slowest`` seconds (the
        slowest of the recent ones) plus `GROW_HEADROOM`: the plan grows only that far, so an
        epoch that runs a little fast does not add an epoch that the next ones take back (the
        plan shrinks on the recent mean, which then has to rise above that pace)."""
        pace = max(slowest, 1e-6) * (1 + GROW_HEADROOM)
        return done + fit_epochs(self._available(clock), pace, max(self.epochs_cap - done, 0))

    def _available(self, clock: BudgetClock) -> float:
        """The seconds left for epochs: the budget's rest less the closing work and files."""
        return clock.remaining() - FINAL_SECONDS - self.closing

    def describe(self) -> str:
        """The plan as one line for the log."""
        capped = f" (capped by --epochs {self.epochs_cap})" if self.epochs == self.epochs_cap else ""
        closing = f", {self.closing:.1f} s kept to score the best epoch with test-time flip" if self.closing else ""
        return (
            f"time budget {self.minutes:g} min: ~{self.epoch:.1f} s/epoch measured (train {self.train:.1f} s = "
            f"{self.steps_per_epoch} steps x {1000 * self.step:.0f} ms, validation {self.validate:.1f} s, saving "
            f"{self.save:.1f} s; set-up took {self.setup:.1f} s{closing}) -> {self.epochs} epochs{capped}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BudgetPlan:
        return cls(**dict(data))
