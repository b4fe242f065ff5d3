"""stablesam.stability.threads.torch_threads: the thread count holds inside the block and is restored after, even on error."""

import pytest
import torch

from stablesam.stability.threads import torch_threads


def test_threads_are_set_inside_and_restored_after_even_on_error():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), torch_threads(target):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"), torch_threads(0):
        pass
