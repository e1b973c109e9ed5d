"""Shared fixtures: each test module starts without a sandbox started ahead of need by another."""
import pytest

from autograder import engine


@pytest.fixture(autouse=True, scope="module")
def no_spare_sandbox_across_modules():
    engine.drop_spare()
    yield
    engine.drop_spare()
