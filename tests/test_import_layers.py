"""ldr_mm's modules import one another without cycles and without pointing
up the layers (issue 24.5). Every ``import`` statement of the package counts,
at module level or inside a function: a function-level import that closes a
cycle only hides it until the function runs. ``from pkg import name`` points
to ``pkg.name`` where that is a module, else to ``pkg`` (its ``__init__``).
"""
import ast
import os
import os.path as osp

from conftest import REPO

PKG = 'ldr_mm'
#: Layers, lowest first: a module may import its own layer and those below.
LAYERS = {
    'utils': 0, 'version': 0,
    'prompts': 1,
    'datasets': 2, 'models': 2, 'evaluation': 2,
    'reconstruction': 3,
    'visualization': 3,  # draws what evaluation computes; never apis
    'engine': 4,
    'apis': 5,
    'deployment': 6, '': 6,  # '': ldr_mm/__init__.py
}
#: Known cycles / upward imports left for later work (none now).
PENDING_CYCLES = []
PENDING_UPWARD = set()


def package_modules(root: str = REPO) -> dict:
    """``{dotted module name: file}`` of every module of the package."""
    mods = {}
    for folder, _, files in os.walk(osp.join(root, PKG)):
        for f in files:
            if f.endswith('.py'):
                path = osp.join(folder, f)
                parts = osp.relpath(path, root)[:-3].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                mods['.'.join(parts)] = path
    return mods


def _targets(mod: str, path: str, node, mods: dict) -> list:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ''
    if node.level:
        parts = mod.split('.')
        if not path.endswith('__init__.py'):
            parts = parts[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = '.'.join(parts + ([base] if base else []))
    return [f'{base}.{a.name}' if f'{base}.{a.name}' in mods else base
            for a in node.names]


def import_graph(mods: dict) -> dict:
    """``{module: set of package modules it imports}``."""
    graph = {}
    for mod, path in mods.items():
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _targets(mod, path, node, mods):
                    while t and t not in mods:
                        t = t.rpartition('.')[0]
                    if t.split('.')[0] == PKG and t != mod:
                        found.add(t)
        graph[mod] = found
    return graph


def cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer(mod: str) -> int:
    return LAYERS[(mod.split('.') + [''])[1]]


def test_the_graph_sees_imports():
    """The checker itself: it finds a known edge of each import form."""
    graph = import_graph(package_modules())
    assert 'ldr_mm.datasets.errors' in graph['ldr_mm.datasets.label_check']
    assert 'ldr_mm.datasets.metadata' in graph['ldr_mm.apis.dataset_labels']
    assert 'ldr_mm.apis' in graph['ldr_mm']
    toy = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert cycles(toy) == [{'a', 'b', 'c'}]


def test_no_import_cycle():
    found = [c for c in cycles(import_graph(package_modules()))
             if c not in PENDING_CYCLES]
    assert not found, f'import cycles: {found}'


def test_no_import_points_up_the_layers():
    graph = import_graph(package_modules())
    assert set(LAYERS) >= {(m.split('.') + [''])[1] for m in graph}
    up = sorted((a, b) for a, deps in graph.items() for b in deps
                if layer(b) > layer(a) and (a, b) not in PENDING_UPWARD)
    assert not up, f'imports that point up {list(LAYERS)}: {up}'


#: demo-readme's file of issue 24, removed when that branch is merged.
PENDING_SYS_PATH = set()


def test_no_script_edits_sys_path():
    """tools/ and benchmarks/ import the installed package (`pip install -e
    .`); a benchmark script imports its siblings by name, as Python puts the
    script's folder first on sys.path. The tests get the repository from
    pytest's `pythonpath` (pyproject.toml) and load tools from their files."""
    found = []
    for top in ('tools', 'benchmarks', 'tests', 'ldr_mm'):
        for folder, _, files in os.walk(osp.join(REPO, top)):
            for f in files:
                path = osp.join(folder, f)
                rel = osp.relpath(path, REPO)
                if not f.endswith('.py') or rel in PENDING_SYS_PATH:
                    continue
                with open(path, encoding='utf-8') as fh:
                    tree = ast.parse(fh.read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, ast.Attribute) and \
                            node.attr in ('insert', 'append', 'extend') and \
                            ast.unparse(node.value) == 'sys.path':
                        found.append(f'{rel}:{node.lineno}')
    assert not found, f'sys.path edited in {found}'
