"""Dependencies match the code: what the product imports is a runtime dependency, what only tests
and benchmarks import is in a dependency group, and nothing declared goes unused."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME_CODE = ("recsys", "assets", "resources", "pipelines", "serving")
OWN = {"recsys", "assets", "resources", "pipelines", "serving", "tests", "benchmarks", "deploy"}
# Declared for what they provide besides imports: the webserver's process, pyarrow as polars'
# and pandas' Parquet engine, pandas for Great Expectations' pandas source, python-multipart for
# FastAPI's file uploads.
NOT_IMPORTED_ON_PURPOSE = {"dagster-webserver", "pyarrow", "pandas", "dagster-dg-cli", "dagster-postgres",
                           "python-multipart", "jinja2"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_distributions(folders: tuple[str, ...]) -> set[str]:
    modules = set()
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    third_party = modules - OWN - set(sys.stdlib_module_names) - {"__future__"}
    owners = packages_distributions()
    return {_name(dist) for module in third_party for dist in owners[module]}


def test_every_runtime_import_is_a_runtime_dependency():
    runtime = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    missing = _imported_distributions(RUNTIME_CODE) - runtime
    assert not missing, f"imported by the product but not in [project] dependencies: {sorted(missing)}"


def test_runtime_dependencies_are_used_by_the_product():
    runtime = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    unused = runtime - _imported_distributions(RUNTIME_CODE) - NOT_IMPORTED_ON_PURPOSE
    assert not unused, f"runtime dependencies the product never imports (move them to a group): {sorted(unused)}"


def test_tests_and_benchmarks_imports_are_declared_somewhere():
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    declared |= {_name(r) for group in PYPROJECT["dependency-groups"].values() for r in group}
    # transitive packages the tests use on purpose would still be undeclared: name them instead
    missing = _imported_distributions(("tests", "benchmarks", "deploy")) - declared
    assert not missing, f"imported by tests, benchmarks or deploy but declared nowhere: {sorted(missing)}"
