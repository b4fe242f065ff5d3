"""``.. cli-reference::``: the ``stablesam`` command line, generated from its argparse parser.

For the top-level parser and each subcommand (in ``stablesam --help``'s order): a section whose text is the
subcommand's description, read as reStructuredText (the descriptions are the modules' docstrings), then its usage
and options exactly as ``stablesam COMMAND --help`` prints them. The parser comes from
:func:`stablesam.cli.build_parser`, so the page cannot drift from the program.
"""

from __future__ import annotations

import argparse
import os

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

# The option blocks are wrapped as on a 100-column terminal, whatever terminal builds the docs.
WIDTH = "100"


def options_text(parser: argparse.ArgumentParser) -> str:
    """``parser.format_help()`` without its description (which the page renders as text): usage, groups, epilog."""
    formatter = parser._get_formatter()
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    for group in parser._action_groups:
        formatter.start_section(group.title)
        formatter.add_text(group.description)
        formatter.add_arguments(group._group_actions)
        formatter.end_section()
    formatter.add_text(parser.epilog)
    return formatter.format_help()


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


class CliReference(Directive):
    required_arguments = 1  # module:function that builds the parser

    def run(self):
        import importlib

        module, _, function = self.arguments[0].partition(":")
        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = WIDTH
        try:
            parser = getattr(importlib.import_module(module), function)()
            sections = [self._section(parser.prog, parser)]
            sections += [self._section(f"{parser.prog} {name}", sub) for name, sub in subcommands(parser).items()]
        finally:
            if previous is None:
                os.environ.pop("COLUMNS")
            else:
                os.environ["COLUMNS"] = previous
        return sections

    def _section(self, title: str, parser: argparse.ArgumentParser) -> nodes.section:
        section = nodes.section(ids=[nodes.make_id(title)], names=[nodes.fully_normalize_name(title)])
        section += nodes.title(text=title)
        if parser.description:
            body = nodes.container()
            nested_parse_with_titles(self.state, StringList(parser.description.strip().splitlines(), title), body)
            section += body.children
        text = options_text(parser)
        section += nodes.literal_block(text, text)
        return section


def setup(app):
    app.add_directive("cli-reference", CliReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
