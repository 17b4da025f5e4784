"""The tutorial site, built offline from the notebooks: `python tools/build_site.py` writes `_build/html/index.html`.

nbdev publishes its sites with Quarto, which these machines cannot install (nbs/_quarto.yml and the GitHub
deploy workflow stay for that). This builds the same pages with Sphinx instead, with nothing fetched at view time:
1. nbdev's own processors (title cells, `#| hide`, `#| export`, show_doc) turn each notebook into `_proc/NAME.ipynb`;
2. those become a Sphinx source tree in `_build/src`: the title cell becomes the page title and description, the
   page is named as nbdev names it (`00_core.ipynb` → `core.html`), the links nbdev makes to the published site
   become links between these pages, plotly figures become a JSON island that `figures.js` draws with the one local
   plotly.js, and the index gets the reading order (index first, then the notebooks by file name) as its toctree;
3. `sphinx-build -W` (myst-nb, nothing executed: every output is the one saved in the notebook; furo theme) writes
   `_build/html`, with MathJax 3 (npm's `mathjax@3`, installed into node_modules/ when missing) and plotly.min.js
   (from the installed plotly wheel) among its own static files.
`tests/test_site.py` builds it and opens every page in headless Chromium.
"""
import argparse, ast, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS, PROC, BUILD = ROOT / 'nbs', ROOT / '_proc', ROOT / '_build'
SRC, HTML, ASSETS = BUILD / 'src', BUILD / 'html', BUILD / 'assets'
CONF = ROOT / 'tools' / 'sphinx'
MATHJAX = ROOT / 'node_modules' / 'mathjax'
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*)$')


def notebooks():
    "The site's notebooks in reading order: index first, then the others by file name (`_` and `.` files are not pages)."
    nbs = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))
    return sorted(nbs, key=lambda p: p.name != 'index.ipynb')


def page_name(nb_path):
    "The page's name as nbdev gives it (its links to the published site use it): `05b_kmeans_jax.ipynb` → `kmeans_jax`."
    return 'index' if nb_path.name == 'index.ipynb' else re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb_path.stem.lower())


# --- 1. nbdev's processors -------------------------------------------------------------------------------------

def _directives(src):
    "The nbdev/Quarto directives at the top of a code cell, and the code below them."
    lines, dirs = src.splitlines(), []
    while lines and (m := DIRECTIVE.match(lines[0])): dirs.append(m.group(1).strip()); lines.pop(0)
    return dirs, '\n'.join(lines)


def _keeps_saved_outputs(cell):
    """True for the cells nbdev's show_doc step would run only because they import something besides doing other work.

    That step runs the exported cells in a fresh kernel to document them, and with them every cell that imports
    (the nbdev FAQ's "cells containing imports and other code"). Such a cell — a test, a plot — depends on the
    notebook's earlier unexported cells, which that kernel never ran, and would fail there; its saved outputs are
    what the page shows, so it is left out of that run."""
    if cell.cell_type != 'code': return False
    dirs, code = _directives(cell.source)
    if {d.split()[0] for d in dirs if d} & {'export', 'exports', 'exporti', 'exec_doc'}: return False
    try: tree = ast.parse(code)
    except SyntaxError: return False                      # magics: nbdev does not run those either
    kinds = {type(n) for n in ast.walk(tree)}
    return bool(kinds & {ast.Import, ast.ImportFrom}) and bool(kinds & {ast.Expr, ast.Assign})


def process(src, dst):
    "nbdev's docs processors on one notebook, as `nbdev_proc_nbs` runs them, written to `dst`."
    from execnb.nbio import read_nb, write_nb
    from nbdev.processors import FilterDefaults
    os.environ['IN_TEST'] = '1'                           # as nbdev_proc_nbs sets it: notebooks skip their side effects
    nb = read_nb(src)
    for c in nb.cells:
        if _keeps_saved_outputs(c): c.source = '#| eval: false\n' + c.source
    FilterDefaults()(nb)
    write_nb(nb, dst)
    return dst


def process_all(nbs, force=False):
    "Every notebook through nbdev's processors into _proc/, two at a time; unchanged notebooks keep their last result."
    PROC.mkdir(exist_ok=True)
    newest_tool = max(Path(__file__).stat().st_mtime, (ROOT / 'settings.ini').stat().st_mtime)
    todo = [p for p in nbs if force or not (PROC / p.name).exists()
            or (PROC / p.name).stat().st_mtime < max(p.stat().st_mtime, newest_tool)]
    if todo:
        import build_site   # this file as a module (tools/ is on sys.path): the show_doc kernel replaces a worker's __main__
        with ProcessPoolExecutor(min(2, len(todo)), mp_context=get_context('spawn')) as ex:
            list(ex.map(build_site.process, todo, [PROC / p.name for p in todo]))
    return [PROC / p.name for p in nbs]


# --- 2. a Sphinx source tree -------------------------------------------------------------------------------------

FA_CDN = re.compile(r'<link[^>]*font-awesome[^>]*>\s*', re.S)     # matplotlib's to_jshtml: icons from a CDN
REMOTE = re.compile(r'''<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//''', re.I)
HEADING = re.compile(r'^(#{1,4})\s+(.+?)\s*#*\s*$')


def slug(text):
    "A heading's anchor as nbdev's links spell it (`GaussianMixture` → `gaussianmixture`): conf.py gives it to MyST."
    return re.sub(r'\s+', '-', re.sub(r'[^\w\s.-]', '', text.lower()).strip())


def _anchors(md):
    "The anchors of the headings in a markdown text (not in code fences)."
    found, fence = set(), False
    for line in md.splitlines():
        if line.lstrip().startswith(('```', '~~~')): fence = not fence
        elif not fence and (m := HEADING.match(line)):
            found.add(slug(re.sub(r'\[([^]]*)\]\([^)]*\)', r'\1', m[2]).replace('`', '').replace('*', '')))
    return found


def _plotly_html(fig):
    "A plotly figure saved without plotly.js, as a JSON island that the site's figures.js draws."
    payload = {k: fig[k] for k in ('data', 'layout', 'frames') if k in fig}
    js = json.dumps(payload, separators=(',', ':')).replace('</', '<\\/')
    return f'<div class="plotly-figure"><script type="application/json">{js}</script></div>'


def _output(out, where):
    "A saved output as the page shows it: plotly figures for figures.js, no font or script from a CDN."
    data = out.get('data')
    if not data: return out
    if 'application/vnd.plotly.v1+json' in data:
        out['data'] = {'text/html': _plotly_html(data['application/vnd.plotly.v1+json']), 'text/plain': data.get('text/plain', '')}
    elif 'text/html' in data:
        html = FA_CDN.sub('', ''.join(data['text/html']))
        if m := REMOTE.search(html): sys.exit(f'{where}: an HTML output loads from the network ({m[0]}...): the site must not')
        data['text/html'] = html
    return out


def _md(source): return dict(cell_type='markdown', metadata={}, source=source)


def _show_doc(md):
    "show_doc's markdown, its `[source]` link moved under the heading (Quarto floats it there); no rule above."
    md = re.sub(r'^\s*---\s*\n', '', md)
    if m := re.match(r'\s*(\[source\]\([^)]*\))(\{[^}]*\})?\s*\n+(#+ [^\n]*\n)', md):
        md = f'{m[3]}\n{{.source-link}}\n{m[1]}\n' + md[m.end():]
    return md


def page_cells(proc_path, where):
    "A processed notebook's cells as the page shows them, and its front matter (title, description)."
    import yaml
    nb, cells, fm = json.loads(proc_path.read_text()), [], {}
    for i, c in enumerate(nb['cells']):
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw' and src.startswith('---') and not fm:    # nbdev's front matter, from the title cell
            fm = yaml.safe_load(src.strip().strip('-')) or {}
            desc = fm.get('description', '')
            cells.append(_md(f"# {fm.get('title', proc_path.stem)}\n" + (f"\n{{.description}}\n{desc}\n" if desc else '')))
        elif c['cell_type'] == 'markdown':
            if not src.startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): cells.append(_md(src))
        elif c['cell_type'] == 'code':
            dirs, code = _directives(src)
            opts = {d.split(':')[0].strip(): d.split(':', 1)[1].strip().lower() if ':' in d else '' for d in dirs if d}
            outs = c.get('outputs', [])
            if opts.get('include') == 'false' or (not code.strip() and not outs): continue
            if opts.get('output') == 'asis':    # show_doc: its markdown belongs to the page (headings, anchors, tables)
                for o in outs:
                    md = ''.join(o.get('data', {}).get('text/markdown', ''))
                    if md: cells.append(_md(_show_doc(md)))
                continue
            tags = ['remove-input'] * (opts.get('echo') == 'false' or not code.strip()) + ['remove-output'] * (opts.get('output') == 'false')
            cells.append(dict(cell_type='code', execution_count=None, metadata={'tags': tags} if tags else {},
                              outputs=[_output(o, f'{where} cell {i}') for o in outs], source=code))
    return cells, fm


class Links:
    """Links to notebooks (`00_core.ipynb#x`) and the links nbdev writes to the published site
    (`https://clusternb.github.io/clusternb/core.html#x`) become links between this site's pages.
    A notebook link must name a page and a heading that exist (Sphinx fails the build otherwise); an nbdev link to a
    name that has no heading of its own (a private helper) goes to its page."""
    def __init__(self, by_nb, anchors, site_url):
        self.by_nb, self.anchors, self.site = by_nb, anchors, re.escape(site_url.rstrip('/') + '/')

    def _nb(self, m): return f']({self.by_nb[m[1]] + ".ipynb" if m[1] in self.by_nb else m[1]}{m[2] or ""})'

    def _site(self, m):
        page, anchor = m[1], (m[2] or '#')[1:]
        if page not in self.anchors: return m[0]
        return f'{page}.ipynb' + (f'#{anchor}' if anchor in self.anchors[page] else '')

    def __call__(self, md):
        md = re.sub(r'\]\((?![a-z]+:)([^)#\s]+\.ipynb)(#[^)\s]*)?\)', self._nb, md)
        return re.sub(self.site + r'([\w.-]+)\.html(#[^)\s"]*)?', self._site, md)


def write_sources(nbs, procs):
    "The Sphinx source tree: one page per notebook, named as nbdev names it, and the reading order as the index's toctree."
    from nbdev.config import get_config
    cfg = get_config(path=ROOT)
    by_nb = {p.name: page_name(p) for p in nbs}
    if len(set(by_nb.values())) < len(by_nb): sys.exit(f'two notebooks make the same page name: {by_nb}')
    pages = {by_nb[nb.name]: page_cells(proc, nb.name) for nb, proc in zip(nbs, procs)}
    anchors = {name: set().union(*(_anchors(c['source']) for c in cells if c['cell_type'] == 'markdown'))
               for name, (cells, _) in pages.items()}
    links = Links(by_nb, anchors, cfg.doc_host + cfg.doc_baseurl)
    if SRC.exists(): shutil.rmtree(SRC)
    SRC.mkdir(parents=True)
    for name, (cells, fm) in pages.items():
        for c in cells:
            if c['cell_type'] == 'markdown': c['source'] = links(c['source'])
        if name == 'index':   # the reading order; a hidden toctree is what furo shows as the sidebar
            order = [by_nb[p.name] for p in nbs if by_nb[p.name] != 'index']
            cells.append(_md('```{toctree}\n:hidden:\n:maxdepth: 1\n\n' + '\n'.join(order) + '\n```'))
        meta = {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}}
        if fm.get('description'): meta['myst'] = {'html_meta': {'description': fm['description']}}
        page = dict(cells=cells, metadata=meta, nbformat=4, nbformat_minor=4)   # 4.4: no cell ids to invent
        (SRC / f'{name}.ipynb').write_text(json.dumps(page, indent=1, ensure_ascii=False))
    return by_nb


# --- 3. assets and Sphinx ------------------------------------------------------------------------------------------

def mathjax():
    "MathJax 3's browser build (es5/), from npm into node_modules/ the first time."
    if not (MATHJAX / 'es5' / 'tex-chtml.js').exists():
        npm = shutil.which('npm')
        if not npm: sys.exit('MathJax 3 comes from npm and npm is not installed (Debian: apt-get install npm)')
        print('npm install mathjax@3 (once, into node_modules/)', flush=True)
        subprocess.run([npm, 'install', '--prefix', str(ROOT), '--no-save', '--no-package-lock', '--no-audit', '--no-fund',
                        '--loglevel=error', 'mathjax@3'], check=True)
    return MATHJAX / 'es5'


def assets():
    "plotly.js from the plotly wheel and MathJax from node_modules, as static files of the site (_static/)."
    import plotly
    ASSETS.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js', ASSETS / 'plotly.min.js')
    es5 = mathjax()
    if not (ASSETS / 'mathjax' / 'tex-chtml.js').exists():
        shutil.copytree(es5, ASSETS / 'mathjax', dirs_exist_ok=True)


def sphinx(src=SRC, out=HTML):
    "sphinx-build with warnings as errors, from scratch (an incremental build would not repeat a cached page's warnings)."
    if out.exists(): shutil.rmtree(out)
    cmd = [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-E', '-q', '-j', '2', '-b', 'html', '-c', str(CONF),
           '-d', str(out.parent / 'doctrees'), str(src), str(out)]
    if subprocess.run(cmd).returncode: sys.exit('sphinx-build failed (warnings are errors): see above')


def serve(port):
    "The built site on http://127.0.0.1:PORT until Ctrl-C."
    import functools, http.server
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    with http.server.ThreadingHTTPServer(('127.0.0.1', port), handler) as httpd:
        print(f'serving the site on http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)', flush=True)
        try: httpd.serve_forever()
        except KeyboardInterrupt: pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--force', action='store_true', help="re-run nbdev's processors on every notebook")
    ap.add_argument('--serve', type=int, nargs='?', const=8000, metavar='PORT', help='then serve the site on 127.0.0.1 (default port 8000)')
    args = ap.parse_args(argv)
    t0, nbs = time.time(), notebooks()
    procs = process_all(nbs, force=args.force)
    write_sources(nbs, procs)
    assets()
    sphinx()
    print(f'{len(nbs)} pages in {time.time() - t0:.0f} s: {HTML / "index.html"}', flush=True)
    if args.serve is not None: serve(args.serve)


if __name__ == '__main__':
    os.chdir(ROOT)
    main()
