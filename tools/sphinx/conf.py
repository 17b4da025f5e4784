# Sphinx configuration of the offline site; tools/build_site.py runs `sphinx-build -c tools/sphinx` on _build/src.
import sys
from configparser import ConfigParser
from pathlib import Path

from docutils import nodes

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))   # for build_site.slug
_cfg = ConfigParser(delimiters=['=']); _cfg.read(ROOT / 'settings.ini', encoding='utf-8')
cfg = _cfg['DEFAULT']

project = cfg['lib_name']
author = cfg['author']
copyright = cfg['copyright']
release = version = cfg['version']
html_title = cfg['title']

extensions = ['myst_nb']
myst_enable_extensions = ['dollarmath', 'amsmath', 'attrs_block']
myst_heading_anchors = 4                   # the ids nbdev's links use: `core.html#like`
myst_heading_slug_func = 'build_site.slug'
# show_doc writes `### name` wherever the export is, also straight under the title (Quarto does not mind)
suppress_warnings = ['myst.header']
nb_execution_mode = 'off'                  # every output is the one saved in the notebook
nb_render_markdown_format = 'myst'         # show_doc's markdown outputs have tables
nb_ipywidgets_js = {}                      # no widget scripts from a CDN

html_theme = 'furo'
html_static_path = [str(Path(__file__).parent / 'static'), str(ROOT / '_build' / 'assets')]
html_css_files = ['site.css']
html_copy_source = html_show_sourcelink = False

# MathJax 3 from npm, served from _static/mathjax; an undefined macro is an error to see, not red text.
mathjax_path = 'mathjax/tex-chtml.js'
mathjax3_config = {'tex': {'packages': {'[-]': ['noundefined']}}}


def _plotly_scripts(app, pagename, templatename, context, doctree):
    "The one local plotly.js, and the script that draws the notebook's figures, only on the pages that have figures."
    if doctree is not None and any('class="plotly-figure"' in n.astext() for n in doctree.findall(nodes.raw)):
        app.add_js_file('plotly.min.js')
        app.add_js_file('figures.js')


def setup(app):
    app.connect('html-page-context', _plotly_scripts)
