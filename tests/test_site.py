"""The offline site as a reader sees it: `tools/build_site.py` builds it (sphinx-build -W), a local server serves
`_build/html` on 127.0.0.1, and headless Chromium (Debian's, driven by Playwright) opens every page. On each page:
no console errors, no request that leaves the machine, every equation typeset by MathJax, every plotly figure drawn
by the local plotly.js, every animation playing, every code output there, and the sidebar listing every notebook in
reading order. A screenshot of each page goes to `_build/screenshots/<page>.png`.

The expectations come from the notebooks in nbs/ themselves, so a notebook added there is checked with no edit here.
Without Chromium (`apt-get install chromium`) or the docs extra these tests skip, saying why; CI sets
CLUSTERNB_REQUIRE_SITE=1, which turns a skip into a failure.
"""
import contextlib, functools, http.server, importlib.util, json, os, re, shutil, subprocess, sys, threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML, SHOTS = ROOT / '_build' / 'html', ROOT / '_build' / 'screenshots'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update']
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*)$')


def _unavailable(why):
    if os.environ.get('CLUSTERNB_REQUIRE_SITE') == '1': pytest.fail(f'the site test is required here (CLUSTERNB_REQUIRE_SITE=1): {why}')
    pytest.skip(why)


# --- what each page should show, read from the notebooks ---------------------------------------------------------

def _source(c): return ''.join(c['source'])


def _directives(c):
    dirs = []
    for line in _source(c).splitlines():
        if not (m := DIRECTIVE.match(line)): break
        dirs.append(m[1].strip())
    return dirs


def _shown(c):
    "Whether a code cell of the notebook appears on its page (nbdev drops hidden and exported cells)."
    dirs = _directives(c)
    return not {d.split()[0] for d in dirs if d} & {'hide', 'export', 'exporti', 'default_exp'} and 'include: false' not in dirs


def _is_image(o):
    "An output the page shows as an image (an HTML version, when there is one, is shown instead)."
    data = o.get('data', {})
    return 'text/html' not in data and any(k.startswith('image/') for k in data)


def notebooks():
    "The notebooks in reading order (index first, then by file name), each with what its page must show."
    paths = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    out = []
    for p in sorted(paths, key=lambda p: p.name != 'index.ipynb'):
        cells = json.loads(p.read_text())['cells']
        title = re.match(r'#\s+(.+)', _source(cells[0]).strip())
        md = '\n'.join(_source(c) for c in cells if c['cell_type'] == 'markdown')
        shown = [c for c in cells if c['cell_type'] == 'code' and _shown(c) and 'output: false' not in _directives(c)]
        outs = [o for c in shown for o in c.get('outputs', [])]
        figs = [o['data']['application/vnd.plotly.v1+json'] for o in outs if 'application/vnd.plotly.v1+json' in o.get('data', {})]
        out.append(dict(
            nb=p.name, title=title[1].replace('`', '') if title else None,
            math=bool(re.search(r'\$\$|(?<![\\$])\$[^$\s][^$]*\$', re.sub(r'`[^`]*`', '', md))),
            outputs=sum(bool(c.get('outputs')) for c in shown),
            images=sum(map(_is_image, outs)),
            plotly=len(figs), plotly_animated=sum(bool(f.get('frames')) for f in figs),
            jshtml=sum('anim-controls' in ''.join(o.get('data', {}).get('text/html', '')) for o in outs)))
    return out


NOTEBOOKS = notebooks()


def test_every_notebook_has_a_title_cell():
    "Pages are titled from the notebooks' `# Title` cells; the sidebar check below relies on them."
    assert all(nb['title'] for nb in NOTEBOOKS), [nb['nb'] for nb in NOTEBOOKS if not nb['title']]


# --- the page check -----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def serve(folder):
    "`folder` over HTTP on 127.0.0.1, on a free port, from a thread."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try: yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    finally: httpd.shutdown(); httpd.server_close()


# Waits in the page, polling (a condition, a time limit in ms).
UNTIL_JS = 'const until = async (ok, ms) => { for (const t0 = Date.now(); !ok() && Date.now() - t0 < ms;) await new Promise(r => setTimeout(r, 50)); };'

# In the page: the math, figures, animations and outputs, once MathJax has typeset and plotly has drawn.
STATE_JS = r'''async () => {''' + UNTIL_JS + r'''
  const q = (s, el = document) => [...el.querySelectorAll(s)];
  const drawn = f => f.querySelector('.main-svg') && f.querySelectorAll('.trace, canvas').length > 0;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await until(() => q('.plotly-figure').every(drawn), 3000);
  const math = q('#furo-main-content .math');
  return {
    h1: (h => h && [...h.childNodes].filter(n => !(n.classList && n.classList.contains('headerlink'))).map(n => n.textContent).join('').trim())(document.querySelector('#furo-main-content h1')),
    math: math.length, mathjax: !!(window.MathJax && MathJax.version),
    typeset: math.filter(m => m.querySelector('mjx-container')).length,
    math_errors: q('mjx-merror').map(e => e.getAttribute('data-mjx-error') || e.textContent),
    figures: q('.plotly-figure').length, drawn: q('.plotly-figure').filter(drawn).length,
    jshtml: q('.animation').length,
    icons: q('.animation .fa-play').filter(i => getComputedStyle(i, '::before').content.length > 2).length,
    outputs: q('#furo-main-content .cell_output').length,
    images: q('#furo-main-content .cell_output img').filter(i => !i.closest('.text_html') && i.naturalWidth > 0).length,
    sidebar: q('.sidebar-tree a.reference').map(a => [a.textContent.trim(), a.getAttribute('href')]),
    brand: (document.querySelector('a.sidebar-brand') || {href: null}).href,
  };
}'''

# Click Play on each plotly animation and count the frames it shows; same for each matplotlib animation's image.
PLAY_PLOTLY_JS = r'''async () => {''' + UNTIL_JS + r'''
  const plots = [...document.querySelectorAll('.plotly-figure .js-plotly-plot')].filter(gd => gd._transitionData && gd._transitionData._frames.length);
  const counts = plots.map(() => 0);
  plots.forEach((gd, i) => gd.on('plotly_animatingframe', () => counts[i]++));
  for (const gd of plots) {
    const play = [...gd.querySelectorAll('.updatemenu-button')].find(b => b.textContent.trim() === 'Play');
    if (play) play.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  }
  await until(() => counts.every(c => c >= 2), 3000);
  return counts;
}'''
PLAY_JSHTML_JS = r'''async () => {''' + UNTIL_JS + r'''
  const anims = [...document.querySelectorAll('.animation')], img = a => a.querySelector('img').src;
  const first = anims.map(img);
  anims.forEach(a => a.querySelector('button[title="Play"]').click());
  await until(() => anims.every((a, i) => img(a) !== first[i]), 3000);
  return anims.map((a, i) => img(a) !== first[i]);
}'''


def check_page(context, url, nb, titles, shot=None):
    "Open `url` as a reader would; the problems found, as sentences (an empty list: the page is right)."
    page, problems, local = context.new_page(), [], urlparse(url).netloc
    page.on('console', lambda m: m.type == 'error' and problems.append(f'console error: {m.text}'))
    page.on('pageerror', lambda e: problems.append(f'script error: {e}'))
    page.on('response', lambda r: r.status >= 400 and problems.append(f'HTTP {r.status}: {r.url}'))
    outside = []
    def route(r):
        if urlparse(r.request.url).netloc == local: return r.continue_()
        outside.append(r.request.url); r.abort()
    page.route('**/*', route)
    page.goto(url, wait_until='load')
    s = page.evaluate(STATE_JS)
    if outside: problems.append(f'requests that leave the machine: {outside}')
    if s['h1'] != nb['title']:
        problems.append(f"page title {s['h1']!r}, not the notebook's {nb['title']!r}")
    if nb['math'] and not s['math']: problems.append('the notebook has equations; the page none')
    if s['math'] and not s['mathjax']: problems.append('MathJax did not load')
    if s['typeset'] < s['math']: problems.append(f"{s['math'] - s['typeset']} of {s['math']} equations not typeset")
    if s['math_errors']: problems.append(f"MathJax errors: {s['math_errors'][:5]}")
    if s['figures'] != nb['plotly']: problems.append(f"{s['figures']} plotly figures, the notebook has {nb['plotly']}")
    if s['drawn'] < s['figures']: problems.append(f"{s['figures'] - s['drawn']} of {s['figures']} plotly figures not drawn")
    if s['jshtml'] != nb['jshtml']: problems.append(f"{s['jshtml']} matplotlib animations, the notebook has {nb['jshtml']}")
    if s['icons'] < s['jshtml']: problems.append('animation buttons without icons')
    if s['outputs'] != nb['outputs']: problems.append(f"{s['outputs']} code outputs, the notebook shows {nb['outputs']}")
    if s['images'] != nb['images']: problems.append(f"{s['images']} images shown, the notebook has {nb['images']}")
    if [t for t, _ in s['sidebar']] != titles[1:]: problems.append(f"sidebar lists {[t for t, _ in s['sidebar']]}, not the notebooks {titles[1:]}")
    if not s['brand'] or urlparse(s['brand']).path.rsplit('/', 1)[-1] not in ('', 'index.html'): problems.append(f"the sidebar's title links to {s['brand']}, not the index")
    if nb['plotly_animated'] and s['drawn'] == s['figures'] == nb['plotly']:
        frames = page.evaluate(PLAY_PLOTLY_JS)
        if len(frames) != nb['plotly_animated'] or min(frames) < 2: problems.append(f'plotly animations after Play showed {frames} frames')
    if nb['jshtml'] and s['jshtml'] == nb['jshtml']:
        moved = page.evaluate(PLAY_JSHTML_JS)
        if not all(moved): problems.append(f'matplotlib animations that did not play: {moved}')
    if shot: page.screenshot(path=str(shot), full_page=True)
    page.close()
    return problems, s['sidebar']


# --- the site, the server and the browser -------------------------------------------------------------------------

@pytest.fixture(scope='module')
def site():
    missing = [m for m in ('sphinx', 'myst_nb', 'furo') if importlib.util.find_spec(m) is None]
    if missing: _unavailable(f'the docs extra is not installed ({", ".join(missing)}): pip install -e ".[docs]"')
    if not (ROOT / 'node_modules' / 'mathjax').exists() and not shutil.which('npm'): _unavailable('MathJax comes from npm, which is missing')
    out = subprocess.run([sys.executable, 'tools/build_site.py'], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f'the site build failed:\n{out.stdout[-5000:]}\n{out.stderr[-5000:]}'
    return HTML


@pytest.fixture(scope='module')
def browser():
    if importlib.util.find_spec('playwright') is None: _unavailable('playwright is not installed: pip install -e ".[docs]"')
    if not Path(CHROMIUM).exists(): _unavailable(f'no {CHROMIUM}: apt-get install chromium')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b.new_context(viewport={'width': 1280, 'height': 900})
        b.close()


@pytest.fixture(scope='module')
def server(site):
    with serve(site) as url: yield url


@pytest.fixture(scope='module')
def pages(site, server):
    "Notebook → its page's URL, by title from the index page's sidebar (which `test_page` checks on every page)."
    html = (site / 'index.html').read_text()
    hrefs = {re.sub(r'<[^>]+>', '', t).strip(): h for h, t in re.findall(r'<a class="reference internal" href="([^"#]+)">(.*?)</a>', html.split('sidebar-tree', 1)[-1].split('</ul>', 1)[0])}
    return {NOTEBOOKS[0]['nb']: server, **{nb['nb']: server + hrefs[nb['title']] for nb in NOTEBOOKS[1:] if nb['title'] in hrefs}}


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[nb['nb'] for nb in NOTEBOOKS])
def test_page(nb, pages, browser):
    assert nb['nb'] in pages, f"{nb['nb']} is not in the sidebar"
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = Path(urlparse(pages[nb['nb']]).path).stem or 'index'
    problems, _ = check_page(browser, pages[nb['nb']], nb, [n['title'] for n in NOTEBOOKS], shot=SHOTS / f'{name}.png')
    assert not problems, f"{nb['nb']} ({pages[nb['nb']]}):\n" + '\n'.join(problems)


# --- the checks can fail ------------------------------------------------------------------------------------------

def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f'{path.name} has no {old!r} to break'
    path.write_text(text.replace(old, new, 1))


def test_checks_catch_a_broken_site(site, browser, tmp_path):
    """The page check on a copy of the site with things broken: each breakage is reported.
    (The same check finds nothing on the real pages, in `test_page`.)"""
    broken = tmp_path / 'html'
    shutil.copytree(site, broken)
    titles = [nb['title'] for nb in NOTEBOOKS]
    first = lambda ok: next(nb for nb in NOTEBOOKS if ok(nb))
    math_page = first(lambda nb: nb['math'])
    anim_page = first(lambda nb: nb['jshtml'] and nb['plotly_animated'])
    plotly_page = first(lambda nb: nb['plotly'] and nb not in (math_page, anim_page))
    output_page = first(lambda nb: nb['outputs'] and nb not in (math_page, anim_page, plotly_page))
    html = lambda nb: broken / ('index.html' if nb['nb'] == 'index.ipynb' else re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb['nb'][:-6].lower()) + '.html')
    # an equation with an unclosed brace and one with an undefined macro
    _edit(html(math_page), '<h1>', r'<p><span class="math notranslate nohighlight">\(\frac{1}{2\)</span> <span class="math notranslate nohighlight">\(\notamacro x\)</span></p><h1>')
    # animations that do not play: the matplotlib Play button pauses, the plotly figure lost its frames
    _edit(html(anim_page), '.play_animation()">', '.pause_animation()">')
    _edit(html(anim_page), '"frames":[', '"no_frames":[')
    # plotly.js missing
    _edit(html(plotly_page), 'plotly.min.js', 'plotly-missing.min.js')
    # a script from the network, and a code output gone
    _edit(html(output_page), '</head>', '<script src="https://cdn.example.invalid/lib.js"></script></head>')
    _edit(html(output_page), 'class="cell_output docutils container"', 'class="docutils container"')
    with serve(broken) as url:
        found = {nb['nb']: check_page(browser, url + html(nb).name, nb, titles)[0] for nb in (anim_page, plotly_page, output_page)}
        # and a notebook that the sidebar does not list
        found[math_page['nb']] = check_page(browser, url + html(math_page).name, math_page, titles + ['A notebook not on the site'])[0]
    def said(nb, *words):
        problems = found[nb['nb']]
        assert any(all(w in p for w in words) for p in problems), (words, problems)
    said(math_page, '1 of', 'equations not typeset')              # the unclosed brace: MathJax finds no end to it
    said(math_page, 'MathJax errors', 'Undefined control sequence')
    said(anim_page, 'matplotlib animations that did not play'); said(anim_page, 'plotly animations after Play')
    said(plotly_page, 'plotly figures not drawn'); said(plotly_page, 'HTTP 404'); said(plotly_page, 'Plotly is not defined')
    said(output_page, "requests that leave the machine: ['https://cdn.example.invalid/lib.js']")
    said(output_page, 'code outputs, the notebook shows')
    said(math_page, 'sidebar lists', 'not the notebooks')


def test_a_warning_fails_the_build(site, tmp_path):
    "sphinx-build runs with -W: a page linking to a notebook that does not exist stops the build."
    sys.path.insert(0, str(ROOT / 'tools'))
    import build_site
    src = tmp_path / 'src'; src.mkdir()
    page = dict(cells=[dict(cell_type='markdown', metadata={}, source='# A page\n\nSee [the missing one](nowhere.ipynb).')],
                metadata={}, nbformat=4, nbformat_minor=4)
    (src / 'index.ipynb').write_text(json.dumps(page))
    with pytest.raises(SystemExit, match='warnings are errors'): build_site.sphinx(src, tmp_path / 'html')
    (src / 'index.ipynb').write_text(json.dumps(page).replace('[the missing one](nowhere.ipynb)', 'nothing missing'))
    build_site.sphinx(src, tmp_path / 'html')
    assert (tmp_path / 'html' / 'index.html').exists()


def test_an_output_from_the_network_stops_the_build():
    "An HTML output that loads a script or image from elsewhere is refused; matplotlib's Font Awesome link is dropped."
    sys.path.insert(0, str(ROOT / 'tools'))
    import build_site
    out = lambda html: dict(output_type='display_data', metadata={}, data={'text/html': html})
    with pytest.raises(SystemExit, match='loads from the network'): build_site._output(out('<script src="https://cdn.x/y.js"></script>'), 'nb')
    with pytest.raises(SystemExit, match='loads from the network'): build_site._output(out("<img src='//cdn.x/y.png'>"), 'nb')
    fa = '<link rel="stylesheet"\nhref="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">\n<div class="animation"></div>'
    assert build_site._output(out(fa), 'nb')['data']['text/html'] == '<div class="animation"></div>'
