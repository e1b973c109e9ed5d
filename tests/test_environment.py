"""environment.yml (conda users) says exactly what the package metadata (pip users) says."""
import re
import tomllib
from importlib.metadata import requires
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normal(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement.split(";")[0]).lower()


def conda_pip_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_normal(r) for r in pip if not r.startswith("-e")}


def test_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_normal(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    assert conda_pip_requirements() == wanted


def test_environment_matches_installed_metadata():
    """The metadata pip installed (what `pip install .[test]` really resolves from) agrees too."""
    installed = {_normal(r) for r in requires("pytorch-autograd-course") or []
                 if "extra" not in r or 'extra == "test"' in r}
    assert installed == conda_pip_requirements()


def test_torch_is_pinned_to_the_cpu_build_version():
    assert "torch==2.13.0" in conda_pip_requirements()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
