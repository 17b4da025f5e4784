"""README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines cannot install).

Markdown cells are kept as they are; code cells become ```python blocks with their nbdev directives removed;
text outputs follow as plain blocks; images and HTML outputs are left to the site. Cells marked `#| hide` are
dropped. `python tools/nb2md.py` writes README.md; `tests/test_project.py` checks that it is up to date.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*)$')


def _directives(src):
    "nbdev directives at the top of a code cell, and the code below them."
    lines, dirs = src.splitlines(), []
    while lines and (m := DIRECTIVE.match(lines[0])): dirs.append(m.group(1).strip()); lines.pop(0)
    return dirs, '\n'.join(lines).strip('\n')


def _text(out):
    if out.get('output_type') == 'stream': return ''.join(out['text'])
    data = out.get('data', {})
    if any(k.startswith('image/') or k == 'text/html' or 'plotly' in k for k in data): return ''
    return ''.join(data.get('text/plain', ''))


def nb2md(nb_path) -> str:
    "The notebook as Markdown."
    nb, parts = json.loads(Path(nb_path).read_text()), []
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown': parts.append(src.strip('\n')); continue
        if c['cell_type'] != 'code': continue
        dirs, code = _directives(src)
        if any(d.split()[0] in ('hide', 'default_exp', 'export') or d.startswith('include: false') for d in dirs if d): continue
        if code: parts.append(f"```python\n{code}\n```")
        outs = ''.join(_text(o) for o in c.get('outputs', [])).strip('\n')
        if outs: parts.append(f"```\n{outs}\n```")
    md = re.sub(r'\]\((?!https?:)([^)]+\.ipynb)\)', r'](nbs/\1)', '\n\n'.join(parts))  # notebook links, from the repository root
    return '<!-- generated from nbs/index.ipynb by tools/nb2md.py: edit the notebook, not this file -->\n\n' + md + '\n'


if __name__ == '__main__':
    out = nb2md(ROOT / 'nbs' / 'index.ipynb')
    if '--check' in sys.argv: sys.exit(0 if (ROOT / 'README.md').read_text() == out else 'README.md is out of date: run python tools/nb2md.py')
    (ROOT / 'README.md').write_text(out)
