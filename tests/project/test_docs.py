"""The API reference covers every public name of each package and every subcommand (the build itself, with
warnings as errors, is ``make docs`` in CI; this checks the generated sources without Sphinx)."""

import importlib
import re
import sys

from tests._package_tree import PACKAGES, ROOT

sys.path.insert(0, str(ROOT / "docs"))
from _ext import api_pages, cli_reference, json_schemas  # noqa: E402


def test_every_public_name_of_every_package_has_a_place_in_the_reference(tmp_path):
    assert api_pages.write_pages(out=tmp_path) == PACKAGES
    index = (tmp_path / "index.rst").read_text()
    for package in PACKAGES:
        page = (tmp_path / f"{package}.rst").read_text()
        assert f"   {package}\n" in index
        documented = set(re.findall(rf"^\.\. auto(?:class|function|data):: {re.escape(package)}\.(\w+)$", page, re.M))
        listed = set(re.findall(r":py:obj:`(\w+) <", page))
        rooms = {name for name in importlib.import_module(package).__all__ if f"{package}.{name}" in PACKAGES}
        assert documented | listed | rooms == set(importlib.import_module(package).__all__), package
        assert not documented & listed


def test_the_cli_page_has_every_subcommand_with_its_options():
    from stablesam.cli import build_parser

    parser = build_parser()
    commands = cli_reference.subcommands(parser)
    assert set(commands) >= {"train", "twin", "eos", "verify"}
    for sub in commands.values():
        text = cli_reference.options_text(sub)
        assert text.startswith("usage: ") and "--help" in text
        if sub.description:
            assert sub.description.strip() not in text  # the description is rendered as text, not repeated


def test_the_verdicts_schema_is_rendered():
    from stablesam.analysis.verify.report import VERDICTS_SCHEMA

    schemas = json_schemas.declared_schemas()
    assert schemas["stablesam.analysis.verify.report.VERDICTS_SCHEMA"] is VERDICTS_SCHEMA


def test_every_command_schema_is_rendered():
    from stablesam.cli import schemas

    rendered = json_schemas.declared_schemas()
    for name in (n for n in schemas.__all__ if n.endswith("_SCHEMA")):
        assert rendered[f"stablesam.cli.schemas.{name}"] is getattr(schemas, name)
