"""The README is part of the product: its configuration table is the schema's."""

from pathlib import Path

from calserver.config import reference_markdown

README = Path(__file__).parent.parent / "README.md"


def test_readme_configuration_table_matches_schema():
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- config-reference:start -->\n") + len(
        "<!-- config-reference:start -->\n"
    )
    end = text.index("<!-- config-reference:end -->")
    assert text[start:end] == reference_markdown()


def test_readme_names_the_ci_test_command():
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.strip().splitlines()[-1]
    assert command in README.read_text(encoding="utf-8")
