"""Every test is marked with its layer, so `make test-unit` selects the fast ones, and a test
marked unit that starts a process fails instead of quietly slowing the fast layer down."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = {
    "test_plain": """
        def test_arithmetic():
            assert 1 + 1 == 2
    """,
    "test_servers": """
        def test_with_a_real_nats_server(nats_url):
            pass

        def test_with_a_database_through_another_fixture(app_on_a_database):
            pass
    """,
    "conftest": """
        import pytest

        @pytest.fixture
        def app_on_a_database(database_url):
            return database_url
    """,
    "test_processes": """
        import subprocess

        def start_tool():
            subprocess.run(["true"], check=True)

        def test_running_a_tool():
            start_tool()
    """,
    "test_said_so": """
        import pytest

        @pytest.mark.e2e
        def test_marked_by_hand():
            pass
    """,
}


@pytest.fixture(autouse=True)
def settled_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def selected(pytester: pytest.Pytester, layer: str) -> list[str]:
    result = pytester.runpytest("--collect-only", "-q", "-m", layer, "-p", "no:cacheprovider")
    return sorted(line.split("::")[1] for line in result.outlines if "::" in line)


def test_each_test_gets_the_layer_its_fixtures_and_code_show(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**SUITE)
    (pytester.path / "integration").mkdir()
    (pytester.path / "integration" / "test_in_folder.py").write_text("def test_here(): pass\n")

    assert selected(pytester, "unit") == ["test_arithmetic"]
    assert selected(pytester, "integration") == [
        "test_here",
        "test_with_a_database_through_another_fixture",
        "test_with_a_real_nats_server",
    ]
    assert selected(pytester, "e2e") == ["test_marked_by_hand", "test_running_a_tool"]


def test_a_unit_test_that_starts_a_process_fails_and_says_why(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_sneaky="""
            import pytest, subprocess

            @pytest.mark.unit
            def test_claims_to_be_fast():
                subprocess.run(["true"], check=True)
        """
    )

    result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ProcessInUnitTest*marked unit but started*mark it e2e*"])
