"""Checks on the project as a whole: the package is what the notebooks export, the notebooks are clean,
the README is generated from index.ipynb, CI runs the README's test command, and the runtime package needs
neither nbdev nor JAX, and nbdev's documentation processors run every notebook."""
import configparser, json, re, shlex, shutil, subprocess, sys, textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))


def _copy_project(tmp_path):
    "The parts of the project nbdev reads, copied to `tmp_path` (so a check never touches the working tree)."
    for name in ('settings.ini', 'setup.py', 'pyproject.toml', 'README.md'): shutil.copy(ROOT / name, tmp_path / name)
    for name in ('nbs', 'clusternb'):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints', '_proc'))
    return tmp_path


def _files(folder, pattern):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob(pattern)) if '__pycache__' not in p.parts}


def test_export_is_a_no_op(tmp_path):
    "`nbdev_export` on the committed notebooks gives back exactly the committed package."
    proj = _copy_project(tmp_path)
    shutil.rmtree(proj / 'clusternb'); (proj / 'clusternb').mkdir()
    subprocess.run([sys.executable, '-c', 'from nbdev.doclinks import nbdev_export; nbdev_export()'], cwd=proj, check=True)
    exported, committed = _files(proj / 'clusternb', '*.py'), _files(ROOT / 'clusternb', '*.py')
    assert sorted(exported) == sorted(committed), "modules differ: run nbdev_export"
    for name in committed: assert exported[name] == committed[name], f"clusternb/{name} is not what the notebooks export: run nbdev_export"


def test_notebooks_are_clean(tmp_path):
    "`nbdev_clean` changes nothing: no execution counts or run metadata are committed."
    proj = _copy_project(tmp_path)
    subprocess.run([sys.executable, '-c', 'from nbdev.clean import nbdev_clean; nbdev_clean()'], cwd=proj, check=True)
    before, after = _files(ROOT / 'nbs', '*.ipynb'), _files(proj / 'nbs', '*.ipynb')
    dirty = [n for n in before if before[n] != after[n]]
    assert not dirty, f"not clean (run nbdev_clean): {dirty}"
    for name, data in before.items():
        assert len(data) < 300_000, f"nbs/{name} saves {len(data)//1000} KB of outputs; keep them small"


def test_readme_is_generated_from_index():
    import nb2md
    assert (ROOT / 'README.md').read_text() == nb2md.nb2md(ROOT / 'nbs' / 'index.ipynb'), "run python tools/nb2md.py"


def _readme_commands():
    "The shell commands in README.md's ```sh blocks."
    return re.findall(r'```sh\n(.*?)\n```', (ROOT / 'README.md').read_text(), re.S)


def test_ci_runs_the_readme_test_command():
    cmds = [c for c in _readme_commands() if 'pytest' in c]
    assert len(cmds) == 1, cmds
    ci = (ROOT / '.ci' / 'run').read_text().splitlines()
    assert cmds[0] in ci, f".ci/run must run the README's test command exactly:\n{cmds[0]}"
    assert any('python -m clusternb' in c for c in _readme_commands()), "the README's main command"


def test_settings():
    "Runtime requirements stay free of the dev tools; the extras are where they belong."
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    d = cfg['DEFAULT']
    names = lambda key: {re.split(r'[<>=!~ \[]', r)[0].lower() for r in shlex.split(d.get(key, ''))}
    runtime = names('requirements')
    assert {'torch', 'numpy', 'scipy', 'scikit-learn', 'matplotlib', 'plotly', 'fastcore', 'fastprogress'} <= runtime
    assert not runtime & {'nbdev', 'execnb', 'jax', 'pytest'}, runtime
    assert 'jax' in names('jax_requirements')
    assert {'nbdev', 'execnb', 'fastcore', 'fastprogress', 'pytest', 'hypothesis', 'jax', 'ipykernel'} <= names('dev_requirements')
    assert {'sphinx', 'myst-nb', 'furo', 'playwright'} <= names('docs_requirements')
    assert d['lib_name'] == d['lib_path'] == 'clusternb' and d['tst_flags'].split() == ['notest', 'slow', 'cuda']


BLOCKER = textwrap.dedent('''
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        "Pretend nbdev, execnb and JAX are not installed."
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('nbdev', 'execnb', 'jax', 'jaxlib'): raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, Block())
''')


def test_import_without_nbdev_or_jax():
    "Every module of the package imports (the JAX ones fail with the install hint), and a fit runs, with nbdev and JAX unavailable."
    code = BLOCKER + textwrap.dedent('''
        import importlib, pkgutil, clusternb
        mods = [m.name for m in pkgutil.iter_modules(clusternb.__path__, 'clusternb.') if m.name != 'clusternb.__main__']
        for m in mods:
            if m.endswith('_jax'):                       # the JAX modules say how to get JAX
                try: importlib.import_module(m)
                except ImportError as e: assert 'pip install "clusternb[jax]"' in str(e), e
                else: raise AssertionError(m + ' imported without JAX')
            else: importlib.import_module(m)
        from clusternb.data import make_blobs
        from clusternb.kmeans import kmeans
        X, _, y = make_blobs(random_state=0)
        res = kmeans(X, 6, random_state=0)
        assert len(set(res.labels.tolist())) == 6
        assert not any(k.split('.')[0] in ('nbdev', 'execnb', 'jax') for k in sys.modules)
        print(len(mods))
    ''')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 5


def test_blocker_blocks():
    "The check above can fail: with the blocker on, importing nbdev is an ImportError."
    out = subprocess.run([sys.executable, '-c', BLOCKER + 'import nbdev'], capture_output=True, text=True)
    assert out.returncode != 0 and "No module named 'nbdev'" in out.stderr


def _run_doc_processors(nbs_dir):
    "nbdev's documentation processors (what `nbdev_proc_nbs` and the Pages workflow run) on every notebook in `nbs_dir`."
    import os
    from execnb.nbio import read_nb
    from nbdev.processors import FilterDefaults
    old_cwd, old_in_test = os.getcwd(), os.environ.get('IN_TEST')
    os.environ['IN_TEST'] = '1'
    try:
        os.chdir(nbs_dir)
        for p in sorted(Path(nbs_dir).glob('*.ipynb')): FilterDefaults()(read_nb(p))
    finally:
        os.chdir(old_cwd)
        if old_in_test is None: os.environ.pop('IN_TEST', None)
        else: os.environ['IN_TEST'] = old_in_test


def test_doc_processors_run_every_notebook(tmp_path):
    """The doc build executes every cell that imports something; a cell that also uses names from cells it does not run
    stops it. Every notebook must go through, and a notebook with such a cell must not."""
    _run_doc_processors(ROOT / 'nbs')
    bad = tmp_path / 'nbs'; bad.mkdir()
    code = lambda i, src: {'cell_type': 'code', 'execution_count': None, 'id': f'a{i}', 'metadata': {}, 'outputs': [], 'source': src}
    nb = {'cells': [code(0, ['#| default_exp mixed']), code(1, ['x = 1']), code(2, ['#| export\n', 'def f(): return 1']),
                    code(3, ['import math\n', 'print(math.sqrt(x))'])],   # x comes from a cell the doc build does not run
          'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}}, 'nbformat': 4, 'nbformat_minor': 5}
    (bad / 'mixed.ipynb').write_text(json.dumps(nb))
    with pytest.raises(Exception): _run_doc_processors(bad)
