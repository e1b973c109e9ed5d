"""Per-lesson tables of wrong answers, one module per lesson named like its course_pkg module.

`tests/test_lessons.py` runs every row of every table through one parametrised test.
"""
from tests.banks import autograd, basics, capstone, detach, graph, inplace, modes, modules, optim, tensors, training

LESSONS = [basics, tensors, autograd, graph, inplace, detach, modules, optim, training, modes, capstone]
