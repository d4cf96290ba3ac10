"""The layer contract of ``src/calserver`` (``tools/check_layers.py``): each layer imports
only downward, no import cycle, the package imported at module level only. The first
test is the guard; the others prove the guard can fail, on a small fake package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_layers", ROOT / "tools" / "check_layers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


checker = load_checker()


def test_the_layer_contract_holds() -> None:
    problems = checker.check(ROOT / "src")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A fake ``calserver`` under ``root``: module name -> source."""
    for name, source in {"calserver": '"""fake"""\n', **files}.items():
        parts = name.split(".")
        path = root.joinpath(*parts, "__init__.py") if name == "calserver" else None
        if path is None:
            path = root.joinpath(*parts).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


def test_a_clean_package_has_no_problem(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "calserver.errors": "X = 1\n",
            "calserver.config": "from calserver.errors import X\n",
            "calserver.app": "from calserver import config, errors\n",
        },
    )
    assert checker.check(root) == []


def test_an_upward_import_is_a_problem(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {"calserver.config": "from calserver.app import make_app\n", "calserver.app": ""},
    )
    problems = set(checker.check(root))
    assert problems == {
        f"{root / 'calserver' / 'config.py'}:1: calserver.config (L0 core) imports "
        "calserver.app (L6 composition root), a higher layer"
    }


def test_a_cycle_is_a_problem_even_within_a_layer(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "calserver.db.__init__": "from calserver import outage\n",
            "calserver.outage": "import calserver.db\n",
        },
    )
    assert checker.check(root) == ["import cycle: calserver.db -> calserver.outage"]


def test_a_function_local_import_is_a_problem(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "calserver.errors": "",
            "calserver.config": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from calserver.errors import Nothing\n"
                "def f():\n"
                "    import json\n"
                "    from calserver import errors\n"
                "    return errors, json\n"
            ),
        },
    )
    problems = checker.check(root)
    assert problems == [f"{root / 'calserver' / 'config.py'}:6: function-local import of calserver"]


def test_a_module_takes_the_layer_of_its_longest_prefix() -> None:
    """``calserver.feeds.web`` is a surface although ``calserver.feeds`` is a service;
    a module no prefix names falls under ``calserver`` itself (L0)."""
    assert checker.layer_of("calserver.x.y") == 0
    assert checker.layer_of("calserver.cli.users") == len(checker.LAYERS) - 1
    assert checker.layer_of("calserver.feeds.web") > checker.layer_of("calserver.feeds")
    assert checker.layer_of("elsewhere") == -1
