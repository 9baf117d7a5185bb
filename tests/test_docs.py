"""The plugin authoring guide (``docs/plugins.md``) stays true to the code.

* every hook specification has a heading written as its signature, ``name(arg, ...)``,
  with the parameter names of ``gateway/hookspecs.py``, and no heading documents a hook
  that does not exist;
* the guide's "Testing a plugin" snippet is, character for character, the region of
  ``tests/test_plugins.py`` between ``# docs:start NAME`` and ``# docs:end NAME``, which
  runs as a test there, so the snippet is proven to work.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from gateway import hookspecs

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
SNIPPET = re.compile(r"<!--\s*snippet:\s*(\S+)\s+(\S+)\s*-->\s*\n```python\n(.*?)```", re.DOTALL)


def signature(hook: str) -> str:
    """``name(arg1, arg2)`` from the hook's specification."""
    return f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"


@pytest.fixture(scope="module")
def guide() -> str:
    assert GUIDE.is_file(), f"{GUIDE} is missing"
    return GUIDE.read_text()


def headings(text: str) -> list[str]:
    return [match.group(1).replace("`", "").strip() for match in HEADING.finditer(text)]


@pytest.mark.parametrize("hook", hookspecs.HOOK_NAMES)
def test_every_hook_has_a_heading_with_its_signature(guide, hook):
    assert signature(hook) in headings(guide), (
        f"docs/plugins.md needs a heading '### {signature(hook)}' documenting {hook}")


def test_no_heading_documents_a_hook_that_does_not_exist(guide):
    documented = {heading.partition("(")[0] for heading in headings(guide) if heading.startswith("scim_")}

    assert documented == set(hookspecs.HOOK_NAMES)


def test_hook_sections_follow_the_order_of_the_specifications(guide):
    positions = [headings(guide).index(signature(hook)) for hook in hookspecs.HOOK_NAMES]

    assert positions == sorted(positions)


def region(path: Path, name: str) -> str:
    """The lines of ``path`` between ``# docs:start NAME`` and ``# docs:end NAME``."""
    lines = path.read_text().splitlines(keepends=True)
    start = [i for i, line in enumerate(lines) if line.strip() == f"# docs:start {name}"]
    end = [i for i, line in enumerate(lines) if line.strip() == f"# docs:end {name}"]
    assert len(start) == 1 and len(end) == 1 and start[0] < end[0], f"no region {name!r} in {path}"
    return "".join(lines[start[0] + 1:end[0]])


def test_the_guide_has_the_testing_snippet(guide):
    snippets = SNIPPET.findall(guide)

    assert [(path, name) for path, name, _ in snippets] == [("tests/test_plugins.py", "testing-a-plugin")]


SNIPPETS = SNIPPET.findall(GUIDE.read_text()) if GUIDE.is_file() else []


@pytest.mark.parametrize("path, name, code", SNIPPETS, ids=[name for _, name, _ in SNIPPETS])
def test_snippets_in_the_guide_are_the_tested_code(path, name, code):
    assert code == region(ROOT / path, name), (
        f"The snippet {name!r} in docs/plugins.md differs from {path}: copy the region between "
        f"'# docs:start {name}' and '# docs:end {name}' into the guide.")


def test_the_tested_snippet_is_a_test_that_runs():
    from tests import test_plugins

    code = region(ROOT / "tests" / "test_plugins.py", "testing-a-plugin")
    tests = re.findall(r"^def (test_\w+)\(", code, re.MULTILINE)
    assert tests and all(callable(getattr(test_plugins, test, None)) for test in tests)
