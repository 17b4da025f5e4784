"""The notebook runner in conftest.py can fail: a notebook with a failing cell is a failed test, and a
failing cell flagged `#| slow` is skipped unless `--flags slow` asks for it."""
import json, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _nb(*sources):
    cells = [dict(cell_type='code', execution_count=None, metadata={}, outputs=[], source=s) for s in sources]
    return json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5))


def _run(tmp_path, *args):
    shutil.copy(ROOT / 'conftest.py', tmp_path); shutil.copy(ROOT / 'settings.ini', tmp_path)
    (tmp_path / 'pyproject.toml').write_text('[tool.pytest.ini_options]\ntestpaths = ["nbs"]\n')
    nbs = tmp_path / 'nbs'; nbs.mkdir()
    (nbs / 'good.ipynb').write_text(_nb('x = 1 + 1', 'assert x == 2'))
    (nbs / 'bad.ipynb').write_text(_nb('x = 1', 'assert x == 2, "the bad notebook failed here"'))
    (nbs / 'slow.ipynb').write_text(_nb('#| slow\nraise RuntimeError("a slow cell ran")'))
    (nbs / '_skipped.ipynb').write_text(_nb('raise RuntimeError("underscore notebooks are not tests")'))
    return subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', *args], cwd=tmp_path, capture_output=True, text=True)


def test_failing_notebook_fails(tmp_path):
    out = _run(tmp_path)
    assert out.returncode == 1, out.stdout
    assert '1 failed, 2 passed' in out.stdout, out.stdout
    assert 'the bad notebook failed here' in out.stdout


def test_flags_run_flagged_cells(tmp_path):
    out = _run(tmp_path, '--flags', 'slow')
    assert '2 failed, 1 passed' in out.stdout, out.stdout
    assert 'a slow cell ran' in out.stdout
