"""The module lists of tests/conftest.py (markers, scheduling, order) name modules that exist: a renamed
module would otherwise lose its marker, its scheduling or its place in the order without a word."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def conftest(request):
    """tests/conftest.py as pytest loaded it (``import conftest`` may find another folder's)."""
    path = str(Path(__file__).with_name("conftest.py"))
    return next(p for p in request.config.pluginmanager.get_plugins() if getattr(p, "__file__", None) == path)


def test_every_listed_module_exists(conftest):
    lists = {"E2E_MODULES": conftest.E2E_MODULES, "MOTO_MODULES": conftest.MOTO_MODULES,
             "SLOW_MODULES": conftest.SLOW_MODULES, "SPREAD_MODULES": conftest.SPREAD_MODULES,
             "BY_ARCHITECTURE": conftest.BY_ARCHITECTURE, "LONGEST_FIRST": conftest.LONGEST_FIRST}
    missing = [f"{name}: {module}" for name, modules in lists.items() for module in modules
               if not (conftest.TESTS / module).is_file()]
    assert not missing, missing
    assert len(set(conftest.LONGEST_FIRST)) == len(conftest.LONGEST_FIRST)


def test_an_architecture_scope_keeps_its_tests_together(conftest):
    split = conftest._ModuleScheduling._split_scope
    module = "tests/test_packs.py"
    assert split(None, f"{module}::test_documented_drift_gives_exactly_its_findings[miss-you-app-alb-http-open]") == \
        split(None, f"{module}::test_compliant_deployment_has_no_failing_finding[miss-you-app-production-owners]") == \
        split(None, f"{module}::test_drifts_cover_the_areas[miss-you-app]") == f"{module}::miss-you-app"
    assert split(None, f"{module}::test_every_documented_architecture_has_a_pack") == \
        f"{module}::test_every_documented_architecture_has_a_pack"
    assert split(None, "tests/test_rule_files.py::test_x[a]") == "tests/test_rule_files.py::test_x[a]"
    assert split(None, "tests/test_iam_policy.py::test_x[a]") == "tests/test_iam_policy.py"
