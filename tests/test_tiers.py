"""The test tiers of ``tests/tiers.py``: one tier per test, derived from its fixtures,
and a test outside the ``live`` tier that starts a process fails and says so.

Each case runs a small pytest session in this process (``pytester``), with the tier
hooks and the markers of pyproject.toml; the sessions start no process themselves.
"""

from __future__ import annotations

import pytest

from tests.tiers import DATABASE_MESSAGE, MESSAGE, TIERS, ProcessGuard

pytest_plugins = "pytester"

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
markers =
    unit: tier
    storage: tier
    live: tier
    postgresql: PostgreSQL
"""

CONFTEST = """
import pytest
from tests.tiers import *  # the tier hooks

@pytest.fixture
def database_url():
    return "sqlite://"

@pytest.fixture
def client(database_url):
    return object()

@pytest.fixture
def live_server():
    return object()

def start_server():
    raise AssertionError("never called here")

@pytest.fixture(scope="module")
def server():
    yield start_server  # only its name matters: a fixture that starts a server
"""


@pytest.fixture
def session(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    return pytester


def tiers(pytester: pytest.Pytester) -> dict[str, list[str]]:
    """test name -> its tier markers, as collected."""
    items, _ = pytester.inline_genitems()
    return {
        item.name: [mark.name for mark in item.iter_markers() if mark.name in TIERS]
        for item in items
    }


def test_each_test_gets_one_tier_from_its_fixtures(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_sample="""
        import pytest

        def test_plain():
            pass

        def test_database(database_url):
            pass

        def test_client(client):
            pass

        @pytest.mark.postgresql
        def test_postgresql():
            pass

        def test_live_server(live_server):
            pass

        def test_module_server(server):
            pass

        @pytest.mark.live
        def test_marked_live():
            pass

        @pytest.mark.storage
        def test_marked_storage():
            pass
        """
    )
    assert tiers(session) == {
        "test_plain": ["unit"],
        "test_database": ["storage"],
        "test_client": ["storage"],
        "test_postgresql": ["storage"],
        "test_live_server": ["live"],
        "test_module_server": ["live"],
        "test_marked_live": ["live"],
        "test_marked_storage": ["storage"],
    }


@pytest.mark.parametrize(
    ("marks", "fixture", "error"),
    [
        ("@pytest.mark.unit\n@pytest.mark.live", "", "marked live and unit; a test has one tier"),
        ("@pytest.mark.unit", "database_url", "marked unit, but its fixtures make it storage"),
        ("@pytest.mark.storage", "live_server", "marked storage, but its fixtures make it live"),
    ],
)
def test_a_wrong_or_second_tier_marker_stops_the_collection(
    session: pytest.Pytester, marks: str, fixture: str, error: str
) -> None:
    session.makepyfile(test_sample=f"import pytest\n\n{marks}\ndef test_it({fixture}):\n    pass\n")
    result = session.runpytest("--collect-only", "-q")
    assert result.ret != 0
    result.stderr.fnmatch_lines([f"*{error}*"])


def test_an_unmarked_test_that_starts_a_process_fails(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_sample="""
        import multiprocessing
        import os
        import subprocess
        import sys
        import threading

        import pytest

        def test_run():
            subprocess.run([sys.executable, "-c", "pass"])

        def test_swallowed():
            try:
                subprocess.check_output(["true"])
            except BaseException:
                pass

        def test_in_a_thread():
            def call():
                try:
                    subprocess.call(["true"])
                except BaseException:
                    pass

            thread = threading.Thread(target=call)
            thread.start()
            thread.join()

        def test_system():
            os.system("true")

        def test_fork():
            os.fork()

        def test_multiprocessing():
            process = multiprocessing.get_context("spawn").Process(target=print)
            process.start()

        def start():
            subprocess.Popen(["true"])

        @pytest.fixture(scope="module")
        def started():  # through a helper, so its tier is not derived as live
            start()

        def test_in_a_fixture(started):
            pass

        def test_plain():
            pass
        """
    )
    result = session.runpytest("-rfE")
    result.assert_outcomes(passed=1, failed=6, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            f"FAILED test_sample.py::{name} - *"
            for name in (
                "test_run",
                "test_swallowed",
                "test_in_a_thread",
                "test_system",
                "test_fork",
                "test_multiprocessing",
            )
        ]
        + ["ERROR test_sample.py::test_in_a_fixture - *"]
    )
    for name in ("test_run", "test_swallowed", "test_in_a_thread", "test_in_a_fixture"):
        result.stdout.fnmatch_lines([f"*{MESSAGE} (test_sample.py::{name}: *"])


@pytest.mark.storage  # its inner tests open a database
def test_a_unit_test_that_opens_a_database_fails(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_sample="""
        import pytest
        import sqlalchemy

        def test_unit(tmp_path):
            engine = sqlalchemy.create_engine("sqlite:///" + str(tmp_path / "x.sqlite"))
            with engine.connect():
                pass

        @pytest.mark.storage
        def test_storage(tmp_path):
            engine = sqlalchemy.create_engine("sqlite:///" + str(tmp_path / "x.sqlite"))
            with engine.connect():
                pass
        """
    )
    result = session.runpytest("-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*{DATABASE_MESSAGE} (test_sample.py::test_unit: *"])


@pytest.mark.live  # its inner test starts a process
def test_a_live_test_may_start_a_process(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_sample="""
        import subprocess

        import pytest

        @pytest.mark.live
        def test_live():
            subprocess.run(["true"], check=True)
        """
    )
    session.runpytest().assert_outcomes(passed=1)


def test_the_guard_refuses_while_installed_and_only_then() -> None:
    import subprocess

    before = subprocess.Popen.__init__
    guard = ProcessGuard("a test")
    guard.install()
    try:
        with pytest.raises(BaseException, match=MESSAGE):
            subprocess.Popen(["true"])
    finally:
        guard.uninstall()
    assert guard.attempts == [f"{MESSAGE} (a test: subprocess.Popen(['true']))"]
    assert subprocess.Popen.__init__ is before
