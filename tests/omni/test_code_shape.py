"""The shape rules of issue 12, checked on every run (they cost nothing to keep)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("omni", "inventory", "customers", "orders", "campaigns")
MAX_FUNCTION_LINES = 80


def _sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _functions(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
        for path in _sources()
        for name, line, length in _functions(path)
        if length > MAX_FUNCTION_LINES
    ]
    assert not long, long


RAW_SQL = re.compile(r"\.execute\(|omni\.sql|omni import sql|connection\.vendor|cursor\(\)")
# Where raw SQL may live: the queries modules and omni.sql's generic helpers; omni/apps.py
# connects omni.sql's timestamp loader to new connections (wiring, no SQL).
SQL_HOMES = {"omni/sql.py", "omni/apps.py"}


def test_raw_sql_lives_only_in_queries_modules():
    found = [
        f"{name}:{number}: {line.strip()}"
        for path in _sources()
        if (name := path.relative_to(ROOT).as_posix()) not in SQL_HOMES
        and path.name != "queries.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if RAW_SQL.search(line)
    ]
    assert not found, found


def test_no_module_imports_another_modules_private_names():
    private = [
        f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {alias.name}"
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in APPS
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert not private, private
