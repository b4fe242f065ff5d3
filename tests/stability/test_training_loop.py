"""The one step loop (stablesam.stability.training.loop): when hooks run, how a hook stops it, the divergence rule."""

import math

import pytest
import torch

from stablesam.stability.training import Divergence, DivergenceRule, Hook, resolve_device, run_steps
from stablesam.stability.training.loop import all_finite, finite_rows
from stablesam.core.validation import UsageError


@pytest.mark.parametrize("start, stop, every, at_stop, expected", [
    (0, 6, 2, True, [2, 4, 6]),
    (0, 6, 2, False, [2, 4]),       # the caller measures the end itself
    (0, 5, 2, True, [2, 4, 5]),
    (3, 7, 2, True, [4, 6, 7]),     # resumed at update 3: the multiples of the global count
    (0, 4, 0, True, [4]),           # every = 0: only at the end
    (0, 4, 0, False, []),
])
def test_hooks_run_at_the_multiples_and_optionally_at_the_end(start, stop, every, at_stop, expected):
    seen = []
    assert run_steps(lambda t: None, start=start, stop=stop, hooks=[Hook(every, seen.append, at_stop)]) == stop
    assert seen == expected


def test_a_hook_returning_true_stops_the_loop_and_skips_the_later_hooks():
    steps, later = [], []
    done = run_steps(steps.append, start=0, stop=10, hooks=[Hook(3, lambda t: t == 6), Hook(1, later.append)])
    assert done == 6 and steps == [0, 1, 2, 3, 4, 5] and later == [1, 2, 3, 4, 5]


def test_the_divergence_rule_and_tracker():
    rule = DivergenceRule(threshold=10.0)
    assert [rule.reason(x, g) for x, g in ((1.0, 1.0), (math.nan, 1.0), (11.0, 1.0), (1.0, math.inf))] == [0, 1, 2, 3]
    tracker = Divergence(rule, 3)
    tracker.update(0, torch.tensor([1.0, 1.0, 1.0]), torch.tensor([1.0, 1.0, 1.0]))
    tracker.update(1, torch.tensor([1.0, 20.0, 1.0]), torch.tensor([1.0, 1.0, math.nan]))
    tracker.update(2, torch.tensor([math.nan, math.nan, 1.0]))  # already diverged runs keep their first record
    tracker.check_parameters(3, torch.tensor([True, True, False]))
    assert tracker.alive.tolist() == [False, False, False]
    assert tracker.records() == [(0, 2, "non-finite loss"), (1, 1, "loss above divergence_threshold"),
                                 (2, 1, "non-finite gradient")]


def test_finiteness_per_model_and_overall():
    assert finite_rows([torch.tensor([[1.0, 2.0], [math.inf, 0.0]]), torch.tensor([1.0, 1.0])]).tolist() == [True, False]
    assert bool(all_finite([torch.ones(3)])) and not bool(all_finite([torch.ones(3), torch.tensor([math.nan])]))


@pytest.mark.parametrize("name", ["cuda:0", "not-a-device"])
def test_the_device_resolver_refuses_what_it_cannot_give(name):
    if name.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UsageError, match="--device"):
        resolve_device(name, flag="--device")
    assert resolve_device("auto").type in ("cpu", "cuda")
