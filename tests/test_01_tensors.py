"""Lesson 01 beyond its row in tests/test_lessons.py: what only a GPU shows."""
import pytest
import torch

from tests.support import grade, make_submission

LESSON = "01_tensors"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: an output moved to the CPU only shows there")
def test_output_moved_to_cpu_loses_points_on_cuda(tmp_path):
    source = "_right = trunc\ndef trunc(x):\n    return _right(x).cpu()\n"
    result = grade(LESSON, make_submission(tmp_path, {"tensors": source}))
    check = next(c for c in result.checks if c.id == "1.1")
    assert check.devices == {"cpu": "pass", "cuda": "fail"} and "device" in check.message
