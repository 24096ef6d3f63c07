"""The training loop as a generator of per-step records.

``train_steps`` yields one :class:`StepRecord` per optimiser step, so the Python API runs it
to completion, the CLI prints a progress bar from it and the GUI worker pauses or stops it
between steps simply by not asking for the next record.

Numerical safety: after every step the loss and the parameters are checked. A step that
leaves anything non-finite is undone (parameters restored from the last good step), the
learning rate is halved and the event is reported in the record; after ``max_recoveries``
consecutive failures training stops with ``event="stopped_nonfinite"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from kanstudio.core.network import KANNetwork

__all__ = ["StepRecord", "TrainSettings", "train_steps"]


@dataclass(frozen=True)
class StepRecord:
    """One optimiser step. Losses are root-mean-square errors; ``reg`` the raw penalty."""

    step: int
    train_loss: float
    test_loss: float
    reg: float
    lr: float
    event: str = ""  # one of STEP_EVENTS
    detail: str = ""  # why, for a recovered step: the optimiser's error message, if any


#: Every value ``StepRecord.event`` takes.
STEP_EVENTS = ("", "grid_update", "nonfinite_recovered", "stopped_nonfinite")


@dataclass
class TrainSettings:
    steps: int = 100
    opt: str = "lbfgs"
    lr: float = 1.0
    lamb: float = 0.0
    lamb_l1: float = 1.0
    lamb_entropy: float = 2.0
    batch_size: int | None = None  # None or >= n_train: full batch
    update_grid: bool = True
    grid_update_every: int = 10
    stop_grid_update_step: int = 50
    eval_every: int = 1
    # The penalty needs every edge's value on every row: (rows, n_in, n_out) per layer.
    # Its per-edge means are estimated on at most this many rows of the batch (drawn
    # afresh each step, seeded); None uses the whole batch.
    reg_rows: int | None = 2048
    max_recoveries: int = 5
    seed: int = 0

    def validate(self) -> None:
        if self.opt not in ("lbfgs", "adam"):
            raise ValueError(f"opt must be 'lbfgs' or 'adam', got {self.opt!r}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.lamb < 0:
            raise ValueError(f"lamb must be >= 0, got {self.lamb}")
        if self.reg_rows is not None and self.reg_rows < 1:
            raise ValueError(f"reg_rows must be >= 1, got {self.reg_rows}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def _make_optimizer(params: list[torch.nn.Parameter], opt: str, lr: float):
    if opt == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.LBFGS(
        params,
        lr=lr,
        max_iter=20,
        history_size=10,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-32,
        tolerance_change=1e-32,
    )


def _closure(net, optimizer, xb, yb, s: TrainSettings, reg_value: list, mse_value: list,
             reg_rows: torch.Tensor | None = None):
    """The loss closure for one step; it records the MSE and penalty it computed.

    ``reg_rows``: indices of the rows of the batch on which the penalty's edge magnitudes
    are estimated, when they are a subset (the error itself always uses the whole batch).
    """

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        if s.lamb > 0:
            output, magnitudes = net.forward_magnitudes(xb, reg_rows)
            mse = torch.mean((output - yb) ** 2)
            reg = net.penalty(magnitudes, s.lamb_l1, s.lamb_entropy)
            loss = mse + s.lamb * reg
            reg_value[0] = float(reg.detach())
        else:
            mse = torch.mean((net(xb) - yb) ** 2)
            loss = mse
        mse_value[0] = float(mse.detach())
        if torch.isfinite(loss):
            loss.backward()
        return loss

    return closure


EVAL_ROWS = 20_000
SMALL_WORK = 2_000_000  # rows x edges under which one CPU thread beats several


class _CpuThreads:
    """Run small CPU problems on one thread, only while a step computes.

    For small networks each tensor op takes microseconds and torch's thread pool costs
    more than it gives: measured here, a [1,3,1] step on 800 rows takes 2.7 ms on one
    thread, 20 ms on two when another process keeps the other core busy. The setting is
    process-global, so it is undone before every ``yield`` of the training generator: code
    that runs while the generator is suspended (the caller, other models) is unaffected.
    """

    def __init__(self, net: KANNetwork, rows: int) -> None:
        edges = sum(layer.n_in * layer.n_out for layer in net.layers)
        self.wanted = net.device.type == "cpu" and rows * edges < SMALL_WORK
        self.before: int | None = None

    def enter(self) -> None:
        if self.wanted and self.before is None:
            self.before = torch.get_num_threads()
            torch.set_num_threads(1)

    def leave(self) -> None:
        if self.before is not None:
            torch.set_num_threads(self.before)
            self.before = None


def _finite(params: list[torch.nn.Parameter]) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in params)


@torch.no_grad()
def _rmse(net: KANNetwork, x: torch.Tensor, y: torch.Tensor, chunk: int = 65536) -> float:
    if x.shape[0] == 0:
        return float("nan")
    total = 0.0
    for s in range(0, x.shape[0], chunk):
        # the whole tensor where one chunk holds it: the first layer keeps its features
        # for the same tensor, so the test loss after every step reuses them
        part = (x, y) if x.shape[0] <= chunk else (x[s : s + chunk], y[s : s + chunk])
        diff = net(part[0]) - part[1]
        total += float((diff * diff).sum())
    return math.sqrt(total / (x.shape[0] * y.shape[1]))


def _copy_params(source: list[torch.Tensor], target: list[torch.Tensor]) -> None:
    """Copy ``source`` tensors into ``target`` in place, outside autograd."""
    with torch.no_grad():
        for src, dst in zip(source, target, strict=True):
            dst.copy_(src)


def _grid_sample(x_train: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The rows the grid is refitted on: all of them, or 20000 drawn once (seeded)."""
    n = x_train.shape[0]
    return x_train if n <= 20000 else x_train[torch.as_tensor(rng.choice(n, 20000, False))]


def _eval_subset(x_test: torch.Tensor | None, y_test: torch.Tensor | None,
                 rng: np.random.Generator) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """A fixed subset of a big test set for the per-step test loss.

    The full set is used at the last step; the subset keeps a million-row file from
    spending most of each step on evaluation.
    """
    if x_test is not None and y_test is not None and x_test.shape[0] > EVAL_ROWS:
        pick = torch.as_tensor(rng.choice(x_test.shape[0], EVAL_ROWS, replace=False),
                               device=x_test.device)
        return x_test[pick], y_test[pick]
    return x_test, y_test


def _is_grid_step(s: TrainSettings, step: int) -> bool:
    return s.update_grid and step <= s.stop_grid_update_step and (
        step == 1 or (step - 1) % s.grid_update_every == 0
    )


def _draw_batch(x_train: torch.Tensor, y_train: torch.Tensor, s: TrainSettings,
                full_batch: bool, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if full_batch:
        return x_train, y_train
    idx = torch.as_tensor(rng.choice(x_train.shape[0], s.batch_size, replace=False),
                          device=x_train.device)
    return x_train[idx], y_train[idx]


def _draw_reg_rows(xb: torch.Tensor, s: TrainSettings,
                   rng: np.random.Generator) -> torch.Tensor | None:
    """Rows of the batch the penalty is estimated on, or None for the whole batch."""
    if s.lamb > 0 and s.reg_rows is not None and xb.shape[0] > s.reg_rows:
        return torch.as_tensor(
            rng.choice(xb.shape[0], s.reg_rows, replace=False), device=xb.device)
    return None


def _test_loss_due(x_test: torch.Tensor | None, y_test: torch.Tensor | None,
                   s: TrainSettings, step: int) -> bool:
    return x_test is not None and y_test is not None and x_test.shape[0] > 0 and (
        step % s.eval_every == 0 or step == s.steps
    )


def _optimizer_step(optimizer, closure, s: TrainSettings, mse_value: list) -> str:
    """Take one optimiser step; return the optimiser's error message, or ""."""
    try:
        if s.opt == "lbfgs":
            optimizer.step(closure)
        else:
            closure()
            if math.isfinite(mse_value[0]):
                optimizer.step()
    except RuntimeError as exc:  # e.g. a line search that met NaN
        mse_value[0] = float("nan")
        return str(exc)[:200]
    return ""


def train_steps(
    net: KANNetwork,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    settings: TrainSettings | None = None,
) -> Iterator[StepRecord]:
    """Train ``net`` in place, yielding a record after every step.

    x_*: (n, width[0]) already selected inputs; y_*: (n, width[-1]); same device and dtype
    as the network. Stop early by closing the generator (or simply not iterating further).
    """
    s = settings or TrainSettings()
    s.validate()
    n = x_train.shape[0]
    if n == 0:
        raise ValueError("no training rows")
    full_batch = s.batch_size is None or s.batch_size >= n
    rng = np.random.default_rng(s.seed)
    params = [p for p in net.parameters() if p.requires_grad]
    lr = s.lr
    optimizer = _make_optimizer(params, s.opt, lr)
    grid_x = _grid_sample(x_train, rng)
    x_eval, y_eval = _eval_subset(x_test, y_test, rng)
    last_good = [p.detach().clone() for p in params]
    failures = 0
    test_loss = float("nan")

    rows = x_train.shape[0] if full_batch else s.batch_size
    threads = _CpuThreads(net, rows)
    try:
        for step in range(1, s.steps + 1):
            threads.enter()
            event = ""
            if _is_grid_step(s, step):
                net.update_grid(grid_x)
                # old curvature / moments are stale after the knots move
                optimizer = _make_optimizer(params, s.opt, lr)
                event = "grid_update"
                _copy_params(params, last_good)  # the new knots go with the refitted coefficients
            xb, yb = _draw_batch(x_train, y_train, s, full_batch, rng)

            reg_value, mse_value = [0.0], [float("nan")]
            reg_rows = _draw_reg_rows(xb, s, rng)
            closure = _closure(net, optimizer, xb, yb, s, reg_value, mse_value, reg_rows)
            detail = _optimizer_step(optimizer, closure, s, mse_value)

            if not (math.isfinite(mse_value[0]) and _finite(params)):
                _copy_params(last_good, params)
                failures += 1
                if failures > s.max_recoveries:
                    threads.leave()
                    yield StepRecord(step, float("nan"), test_loss, reg_value[0], lr,
                                     "stopped_nonfinite", detail)
                    return
                lr *= 0.5
                optimizer = _make_optimizer(params, s.opt, lr)
                threads.leave()
                yield StepRecord(step, float("nan"), test_loss, reg_value[0], lr,
                                 "nonfinite_recovered", detail)
                continue
            failures = 0
            _copy_params(params, last_good)
            if _test_loss_due(x_test, y_test, s, step):
                last = step == s.steps
                test_loss = _rmse(net, x_test if last else x_eval, y_test if last else y_eval)
            train_loss = math.sqrt(mse_value[0]) if full_batch else _rmse(net, xb, yb)
            threads.leave()
            yield StepRecord(step, train_loss, test_loss, reg_value[0], lr, event)
    finally:
        threads.leave()
        net.record_ranges(grid_x)
