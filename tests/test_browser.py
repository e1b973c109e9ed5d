"""A student's session in a real browser (issue 16, "Proof in a real browser").

JupyterLab runs on a released student edition, headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium) opens lesson 01 and runs its cells through JupyterLab's own UI
(select a cell, Shift+Enter; Ctrl+S to save). The test writes a correct and then a wrong
`round_half_even` into the edition's course_pkg/tensors.py and asserts what the page shows after the
check cell: the pass row; then the fail row, the ties hint and one "not passing yet" line, with no
traceback through the grader. It answers `answer_ties` in the page, saves, and runs its check; and it
draws lesson 03's first autograd graph and finds the picture in the page.

Screenshots of every step go to $COURSE_ARTIFACTS (default: a temporary folder); their paths are
printed (run with -s to see them). Every wait is bounded; JupyterLab and its kernels are always
stopped. Without selenium, Chromium or chromedriver, or where Chromium cannot start, the tests skip
and say why (set COURSE_REQUIRE_BROWSER=1 to make that a failure instead); .ci/run installs them.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COURSE_CHROMEDRIVER", "/usr/bin/chromedriver")
LESSONS = ("01_tensors", "03_graph")

START_LAB_S = 120        # JupyterLab's server answering (slow on a loaded 2-core CI machine)
PAGE_S = 90              # the notebook page and its kernel ready
CELL_S = 180             # one cell: a check cell grades in a sandboxed subprocess that imports torch
SAVE_S = 30

CORRECT_ROUND = '''

def round_half_even(x):           # written by tests/test_browser.py: floor, then the parity of ties
    down = torch.floor(x)
    rest = x - down
    odd = torch.remainder(down, 2) == 1
    return torch.where((rest > 0.5) | ((rest == 0.5) & odd), down + 1, down)
'''
WRONG_ROUND = '''

def round_half_even(x):           # written by tests/test_browser.py: ties go up (wrong)
    return torch.floor(x + 0.5)
'''
GRADER_TRACES = ("Traceback", "notebook.py", "runner.py", "probes.py", "AssertionError", "NotPassingYet")

# JupyterLab settings for this run only: every cell in the page (no windowing, so cells are found by
# their text), no news pop-up over the page, no update check (CI has no network).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def _unavailable(why: str):
    if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test cannot run: {why}")
    pytest.skip(f"browser test skipped: {why}")


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = os.environ.get("COURSE_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _build_edition(out: Path) -> None:
    """A student edition as `course release` builds it (package, public checks, nbgrader's notebooks),
    with only the two lessons this test opens (nbgrader takes seconds per notebook)."""
    from autograder import release
    release.release(out, notebooks=False, log=lambda *a: None)
    release.generate_notebooks(ROOT, out, only=list(LESSONS), log=lambda *a: None)
    for lesson in LESSONS:
        assert (out / lesson / f"{lesson}.ipynb").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and everything it started. Kernels run in sessions of their own, so they are
    found by id (the server's descendants) before the server is asked to stop, and killed if left."""
    try:
        import psutil
        started = psutil.Process(proc.pid).children(recursive=True)
    except Exception:                              # psutil missing, or the server already gone
        started = []
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)     # JupyterLab shuts its kernels down on SIGTERM
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for child in started:
        try:
            if child.is_running():                  # same process (psutil checks its start time)
                child.kill()
        except Exception:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory, artifacts):
    """JupyterLab on a student edition, as `course lab` starts it: yields (base URL, token, edition).
    The server starts while the edition is built (it lists the folder only when asked)."""
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed")
    home = tmp_path_factory.mktemp("browser")
    edition = home / "student"
    edition.mkdir()
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    env["PYTHONPATH"] = os.pathsep.join([str(edition), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.token={token}", f"--notebook-dir={edition}",
               f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = artifacts / "jupyterlab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=edition, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _build_edition(edition)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_LAB_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within {START_LAB_S}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        print(f"\nJupyterLab up at {base} (log: {log_path})")
        yield base, token, edition
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, or a skip that says why there is none."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).is_file():
            _unavailable(f"{path} not found (apt-get install -y chromium chromium-driver; .ci/run does it)"
                         f" — missing package: {package}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as e:
        first = (str(e).strip().splitlines() or [repr(e)])[0].removeprefix("Message: ")
        _unavailable(f"Chromium could not start ({CHROMIUM}): {first}")
    try:
        driver.set_page_load_timeout(PAGE_S)
        driver.set_script_timeout(30)
        yield driver
    finally:
        driver.quit()


# ------------------------------------------------------------------------------- the page, driven

CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'   # errors render so
# The cells of the open notebook as {index, code, source, prompt}; a CodeMirror line is a .cm-line.
CELLS_JS = f"""
return [...document.querySelectorAll('{CELLS}')].map((c, i) => ({{
  index: i,
  code: c.classList.contains('jp-CodeCell'),
  source: [...c.querySelectorAll('.jp-InputArea-editor .cm-line')].map(l => l.textContent).join('\\n'),
  prompt: (c.querySelector('.jp-InputPrompt') || {{}}).textContent || '',
}}));
"""
CELL_JS = f"return document.querySelectorAll('{CELLS}')[arguments[0]];"


class Notebook:
    """One open notebook in JupyterLab, driven the way a student does it."""

    def __init__(self, driver, artifacts: Path, lesson: str):
        self.driver, self.artifacts, self.lesson = driver, artifacts, lesson
        self.shots: list[Path] = []

    # --- waiting
    def wait(self, condition, timeout: float, what: str):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(lambda d: condition())
        except TimeoutException:
            shot = self.screenshot(f"timeout-{re.sub(r'[^a-z0-9]+', '-', what.lower())[:40]}")
            pytest.fail(f"{self.lesson}: {what} did not happen within {timeout:g}s (screenshot: {shot})")

    def screenshot(self, step: str, cell: int | None = None) -> Path:
        if cell is not None:                          # that cell and what it shows at the top
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", self.element(cell))
        path = self.artifacts / f"{self.lesson}-{len(self.shots) + 1:02d}-{step}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        print(f"screenshot: {path}")
        return path

    # --- opening
    def open(self, base: str, token: str) -> None:
        # A workspace of its own: only this notebook opens (no tab restored from an earlier page).
        name = f"{self.lesson}.ipynb"
        self.driver.get(f"{base}/lab/workspaces/{self.lesson}/tree/{self.lesson}/{name}?token={token}")
        self.wait(lambda: self.driver.execute_script(
            "const t = document.querySelector('.lm-DockPanel .lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel');"
            "return t && t.textContent;") == name, PAGE_S, f"{name} opening in a tab")
        self.wait(lambda: len(self.cells()) > 5, PAGE_S, "the notebook's cells appearing")
        self.wait(self._dialog_or_idle, PAGE_S, "the kernel becoming idle")
        dialog = self.driver.execute_script("const d = document.querySelector('.jp-Dialog'); return d && d.innerText;")
        assert not dialog, f"a dialog blocks the notebook: {dialog}"

    def _dialog_or_idle(self) -> bool:
        return self.driver.execute_script(
            "if (document.querySelector('.jp-Dialog')) return true;"
            # The status bar's "Python 3 (ipykernel) | Idle": the toolbar's indicator says idle before
            # the kernel has even started.
            "return [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
            "  .some(e => /\\| Idle$/.test(e.textContent.trim()));")

    # --- cells
    def cells(self) -> list[dict]:
        return self.driver.execute_script(CELLS_JS)

    def find(self, needle: str, code: bool = True) -> int:
        """The index of the one cell whose source holds `needle`."""
        found = [c["index"] for c in self.cells() if needle in c["source"] and c["code"] == code]
        assert len(found) == 1, f"{self.lesson}: expected one cell holding {needle!r}, found {len(found)}"
        return found[0]

    def element(self, index: int):
        return self.driver.execute_script(CELL_JS, index)

    def select(self, index: int) -> None:
        """Select a cell in command mode: click its prompt, as a student clicks beside a cell."""
        cell = self.element(index)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
        cell.find_element("css selector", ".jp-InputPrompt").click()
        self.wait(lambda: "jp-mod-active" in (self.element(index).get_attribute("class") or ""), 10,
                  f"cell {index} becoming the active cell")

    def press(self, *keys) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        chain = ActionChains(self.driver)
        modifiers = [k for k in keys if k in (Keys.SHIFT, Keys.CONTROL)]
        for k in modifiers:
            chain.key_down(k)
        for k in keys:
            if k not in modifiers:
                chain.send_keys(k)
        for k in reversed(modifiers):
            chain.key_up(k)
        chain.perform()

    def prompt(self, index: int) -> str:
        return self.cells()[index]["prompt"].strip()

    def run(self, index: int, timeout: float = CELL_S) -> str:
        """Run one cell with Shift+Enter and wait until it has finished; returns its output's text."""
        from selenium.webdriver.common.keys import Keys
        before = self.prompt(index)
        self.select(index)
        self.press(Keys.SHIFT, Keys.ENTER)
        self.wait(lambda: re.fullmatch(r"\[\d+\]:", self.prompt(index)) and self.prompt(index) != before,
                  timeout, f"cell {index} finishing")
        return self.output_text(index)

    def output_text(self, index: int) -> str:
        return self.driver.execute_script(
            "const o = arguments[0].querySelector('.jp-OutputArea'); return o ? o.innerText : '';",
            self.element(index))

    def output_html(self, index: int) -> str:
        return self.driver.execute_script(
            "const o = arguments[0].querySelector('.jp-OutputArea'); return o ? o.innerHTML : '';",
            self.element(index))

    def error_lines(self, index: int) -> list[str]:
        """The lines of the cell's error output (stderr-style rendering), as the page shows them."""
        text = self.driver.execute_script(
            f"return [...arguments[0].querySelectorAll('{STDERR}')].map(e => e.innerText).join('\\n');",
            self.element(index))
        return [line for line in text.splitlines() if line.strip()]

    def type_into(self, index: int, text: str) -> None:
        """Replace a cell's source by typing, as a student does: click into it, select all, type."""
        from selenium.webdriver.common.keys import Keys
        cell = self.element(index)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
        cell.find_element("css selector", ".cm-content").click()
        self.wait(lambda: self.driver.execute_script(
            "return !!arguments[0].querySelector('.cm-editor.cm-focused');", self.element(index)), 10,
            f"cell {index}'s editor taking the focus")
        self.press(Keys.CONTROL, "a")
        self.press(text)
        self.wait(lambda: self.cells()[index]["source"] == text, 10, f"cell {index} holding the typed text")

    def save(self, path: Path, expect: str) -> None:
        """Ctrl+S, then wait until the file on disk holds `expect` and the tab is no longer dirty."""
        from selenium.webdriver.common.keys import Keys
        self.press(Keys.ESCAPE)                       # command mode, as after running a cell
        self.press(Keys.CONTROL, "s")
        self.wait(lambda: expect in path.read_text(encoding="utf-8"), SAVE_S,
                  f"{path.name} saved with the answer")
        self.wait(lambda: not self.driver.execute_script(
            "return !!document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty');"), SAVE_S,
            "the notebook tab losing its unsaved mark")


def _rgb(colour: str) -> str:
    colour = colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (0, 2, 4)))


def _cell_colour(nb: Notebook, index: int, mark: str) -> str | None:
    return nb.driver.execute_script(
        "const td = [...arguments[0].querySelectorAll('.course-check td')]"
        "  .find(t => t.innerText.includes(arguments[1]));"
        "return td ? getComputedStyle(td).color : null;", nb.element(index), mark)


def _write_round(edition: Path, source: str) -> None:
    """The student edits course_pkg/tensors.py: a def appended to the released stub replaces it."""
    module = edition / "course_pkg" / "tensors.py"
    stub = edition.parent / "tensors.py.released"     # outside the student's workspace
    if not stub.exists():
        shutil.copyfile(module, stub)
    module.write_text(stub.read_text() + source)


# ------------------------------------------------------------------------------------------- tests

def test_lesson_01_check_cells_and_answer_cell_in_the_browser(browser, lab, artifacts):
    from autograder import report
    base, token, edition = lab
    started = time.monotonic()
    nb = Notebook(browser, artifacts, "01_tensors")
    nb.open(base, token)
    nb.screenshot("opened")

    setup = nb.find("from autograder.notebook import check")
    check_round = nb.find('check("01_tensors", "1.4")')
    nb.run(setup)
    assert not nb.error_lines(setup), nb.output_text(setup)

    # A correct round_half_even: the pass row, no error output at all.
    _write_round(edition, CORRECT_ROUND)
    text = nb.run(check_round)
    nb.screenshot("round-half-even-pass", check_round)
    assert "1.4" in text and report.MARK["pass"] in text, text
    assert report.MARK["fail"] not in text and "not passing yet" not in text, text
    assert not nb.error_lines(check_round), text
    assert "course-check" in nb.output_html(check_round) and "<table" in nb.output_html(check_round)
    assert _cell_colour(nb, check_round, report.MARK["pass"]) == _rgb(report.COLOUR["pass"])

    # A wrong one (ties go up): the fail row, the ties hint, one "not passing yet" line, no grader trace.
    _write_round(edition, WRONG_ROUND)
    text = nb.run(check_round)
    nb.screenshot("round-half-even-fail", check_round)
    assert report.MARK["fail"] in text, text
    assert "ties go to the even neighbour" in text, text
    assert "Hint:" in text, text
    assert _cell_colour(nb, check_round, report.MARK["fail"]) == _rgb(report.COLOUR["fail"])
    errors = nb.error_lines(check_round)
    assert len(errors) == 1 and "not passing yet: 1.4" in errors[0], errors
    for trace in GRADER_TRACES:
        assert trace not in text, f"{trace!r} shown to the student:\n{text}"
    assert "<details open" in nb.output_html(check_round)

    # An answer cell end to end: type the prediction, run it, save (Ctrl+S), run its check.
    answer = nb.find("answer_ties = ...")
    check_answer = nb.find('check("01_tensors", "1.a")')
    typed = "answer_ties = torch.tensor([0., 2., 2., -2.])"
    nb.type_into(answer, typed)
    nb.screenshot("answer-typed", answer - 1)
    nb.run(answer)
    nb.save(edition / "01_tensors" / "01_tensors.ipynb", expect="torch.tensor([0., 2., 2., -2.])")
    text = nb.run(check_answer)
    nb.screenshot("answer-pass", answer - 1)
    assert "1.a" in text and report.MARK["pass"] in text, text
    assert "not passing yet" not in text and not nb.error_lines(check_answer), text
    assert "save the notebook" not in text.lower(), text
    print(f"lesson 01 in the browser: {time.monotonic() - started:.0f}s")


def test_lesson_03_graph_picture_renders_in_the_browser(browser, lab, artifacts):
    base, token, _ = lab
    started = time.monotonic()
    nb = Notebook(browser, artifacts, "03_graph")
    nb.open(base, token)
    cells = nb.cells()
    setup = nb.find("from autograder.notebook import check")
    draw = next((c["index"] for c in cells if c["code"] and re.search(r"^\s*draw_graph\(", c["source"], re.M)), None)
    assert draw is not None and draw > setup, "03_graph: no cell calls draw_graph( after the setup cell"
    # The cells from the setup cell to the first drawing, in order (it draws tensors made above it).
    for cell in cells[setup:draw + 1]:
        if cell["code"]:
            nb.run(cell["index"])
            assert not nb.error_lines(cell["index"]), nb.output_text(cell["index"])
    nb.wait(lambda: browser.execute_script(
        "const img = arguments[0].querySelector('.jp-OutputArea-output img');"
        "return !!img && img.complete && img.naturalWidth > 100 && img.src.startsWith('data:image/png');",
        nb.element(draw)), 30, "the graph picture (PNG) loading")
    size = browser.execute_script(
        "const img = arguments[0].querySelector('.jp-OutputArea-output img');"
        "return [img.naturalWidth, img.naturalHeight];",
        nb.element(draw))
    nb.screenshot("graph-drawn", draw)
    assert size[0] > 100 and size[1] > 100, size
    print(f"lesson 03 in the browser: {time.monotonic() - started:.0f}s, picture {size[0]}x{size[1]}")
