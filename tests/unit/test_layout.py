"""Every test lives in tests/unit, tests/integration or tests/e2e (README, "Tests"): pytest collects
only those three folders (pyproject.toml, testpaths), so a test file anywhere else would never run."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
KINDS = ("unit", "integration", "e2e")


def test_every_test_file_is_in_a_folder_that_says_its_kind() -> None:
    stray = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                   if p.relative_to(TESTS).parts[0] not in KINDS)
    assert not stray, (
        "move these under tests/unit (pure, no I/O), tests/integration (database, servers) or "
        f"tests/e2e (browser, processes), keeping the area as a subfolder: {stray}")


def test_conftest_helpers_live_in_tests_support() -> None:
    """Fixtures shared by several folders are in tests/support; a conftest.py only imports them."""
    for conftest in TESTS.rglob("conftest.py"):
        if conftest.parent in (TESTS, TESTS / "unit"):
            continue
        text = conftest.read_text()
        assert "def " not in text, f"{conftest.relative_to(TESTS)}: define fixtures in tests/support and import them"
