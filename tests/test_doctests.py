"""The examples in the docstrings run: every ``>>>`` in ``restore`` is a test."""

from __future__ import annotations

import doctest
import importlib

import pytest

from restore.utils.config import PROJECT_ROOT


def _modules() -> list[str]:
    names = []
    for path in sorted((PROJECT_ROOT / "restore").rglob("*.py")):
        if ">>>" in path.read_text():
            parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, f"{name}: {result}"
