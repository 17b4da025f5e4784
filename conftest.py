"""pytest runs every notebook in nbs/ as one test, with nbdev's own runner (`nbdev.test.test_nb`).

Cells flagged with one of settings.ini's `tst_flags` (notest, slow, cuda) are skipped, as `nbdev_test`
skips them; `pytest --flags "slow cuda"` runs those too, as `nbdev_test --flags` does.
"""
import contextlib, io, os
from pathlib import Path

import pytest

ROOT = Path(__file__).parent


def pytest_addoption(parser):
    parser.addoption("--flags", default="", help="space-separated tst_flags whose cells run anyway (e.g. 'slow cuda')")


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".ipynb" and file_path.parent.name == "nbs" and not file_path.name.startswith(("_", ".")):
        return NotebookFile.from_parent(parent, path=file_path)


class NotebookFile(pytest.File):
    def collect(self): yield NotebookItem.from_parent(self, name=self.path.stem)


class NotebookError(Exception): pass


class NotebookItem(pytest.Item):
    def runtest(self):
        os.environ.setdefault("MPLBACKEND", "Agg")
        from nbdev.config import get_config
        from nbdev.test import test_nb
        skip = get_config(path=ROOT).tst_flags.split()
        force = self.config.getoption("--flags").split()
        err = io.StringIO()
        in_test = os.environ.get("IN_TEST")
        try:
            with contextlib.redirect_stderr(err):
                ok, secs = test_nb(self.path, skip_flags=skip, force_flags=force, showerr=True, basepath=ROOT)
        finally:  # test_nb sets IN_TEST and leaves it set, which turns nbdev_export into a no-op in every later subprocess
            if in_test is None: os.environ.pop("IN_TEST", None)
        self.user_properties.append(("seconds", secs))
        if not ok: raise NotebookError(err.getvalue())

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, NotebookError): return f"notebook {self.path.name} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self): return self.path, 0, f"notebook {self.path.name}"
