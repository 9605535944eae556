"""Structure figures for the maintainers (issue 17's before/after table).

Per file: lines, and the share of lines that are docstrings (module, class
and function docstrings, by ``ast``). For the tree: classes defined inside
functions, and attribute accesses ``obj._name`` from ``tools/`` and
``benchmarks/`` whose object is not ``self``/``cls`` or a third-party module
(so, into our models and layers).

Usage: python scripts/code_metrics.py [FILE ...] [--markdown]
"""
import argparse
import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

REPO = Path(__file__).resolve().parents[1]
# Objects whose private attributes are not ours (third-party modules).
FOREIGN = {'torch', 'nn', 'sys', 'os', 'mmengine', 'mmcv', 'mmdet',
           'mmpretrain',
           'mmpose', 'mmaction', 'np', 'numpy', 'importlib', 'inspect',
           'threading', 'functools', 'collections', 'builtins'}


def docstring_lines(tree: ast.AST) -> int:
    n = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)):
            body = getattr(node, 'body', [])
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], 'value', None), ast.Constant) and \
                    isinstance(body[0].value.value, str):
                n += body[0].end_lineno - body[0].lineno + 1
    return n


def nested_classes(tree: ast.AST) -> List[Tuple[str, int]]:
    found = []

    def visit(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef) and in_func:
                found.append((child.name, child.lineno))
            visit(child, in_func or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def _root_name(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else ''


def private_accesses(tree: ast.AST) -> List[Tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith('_') \
                and not node.attr.startswith('__'):
            root = _root_name(node.value)
            if root in ('self', 'cls') or root in FOREIGN:
                continue
            found.append((node.attr, node.lineno))
    return found


def py_files(*dirs: str) -> Iterator[Path]:
    for d in dirs:
        yield from sorted((REPO / d).rglob('*.py'))


def file_row(path: Path) -> Dict[str, float]:
    text = path.read_text()
    tree = ast.parse(text)
    lines = len(text.splitlines())
    return dict(lines=lines, doc=docstring_lines(tree) / max(lines, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('files', nargs='*')
    args = parser.parse_args()
    for name in args.files:
        row = file_row(REPO / name)
        print(f'| {name} | {row["lines"]} | {100 * row["doc"]:.0f}% |')
    nested = [(p, c) for p in py_files('td_plugins', 'tools', 'benchmarks')
              for c in nested_classes(ast.parse(p.read_text()))]
    private = [(p, a) for p in py_files('tools', 'benchmarks')
               for a in private_accesses(ast.parse(p.read_text()))]
    pkg = list(py_files('td_plugins'))
    total = sum(len(p.read_text().splitlines()) for p in pkg)
    doc = sum(docstring_lines(ast.parse(p.read_text())) for p in pkg)
    print(f'td_plugins/: {len(pkg)} files, {total} lines, docstrings '
          f'{100 * doc / total:.0f}%')
    print(f'classes defined inside functions: {len(nested)}')
    for p, (name, line) in nested:
        print(f'  {p.relative_to(REPO)}:{line} {name}')
    print(f'private accesses from tools/ and benchmarks/: {len(private)}')
    for p, (name, line) in private:
        print(f'  {p.relative_to(REPO)}:{line} .{name}')


if __name__ == '__main__':
    sys.exit(main())
