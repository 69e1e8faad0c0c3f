r"""A Griffe extension for the API reference: probmoll's docstrings in Markdown.

The docstrings are numpy style with Sphinx roles and directives, which Markdown shows as
they are. Before mkdocstrings renders a docstring this extension rewrites

- ``:math:`x``` to ``\(x\)`` and a ``.. math::`` directive (on its line or as an
  indented block) to ``\[ ... \]``, which ``pymdownx.arithmatex`` hands to MathJax;
- the cross-reference roles ``:func:`~a.b.c``` (``class``, ``meth``, ``mod``, ``attr``,
  ``data``, ``obj``, ``exc``) to code, ``c`` for a ``~`` target and ``a.b.c`` otherwise.
  They are not turned into links: the names a docstring points to are not all on an
  API page, and an unresolved link would fail the strict build.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc):`(~?)([^`]+)`")
MATH_ROLE = re.compile(r":math:`([^`]+)`")
MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<inline>.*)$")


def _role(match: re.Match) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _math_blocks(lines: list[str]) -> list[str]:
    """``.. math::`` directives as ``\\[ ... \\]`` display blocks."""
    out, index = [], 0
    while index < len(lines):
        match = MATH_DIRECTIVE.match(lines[index])
        if match is None:
            out.append(lines[index])
            index += 1
            continue
        indent = match["indent"]
        body = [match["inline"]] if match["inline"].strip() else []
        index += 1
        # The directive's body: the blank lines and the lines indented deeper than it.
        while index < len(lines) and (
            not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > len(indent)
        ):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        depth = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
        if out and out[-1].strip():
            out.append("")  # a display block is a paragraph of its own
        out += [f"{indent}\\[", *(indent + line[depth:] for line in body), f"{indent}\\]", ""]
    return out


def markdown(docstring: str) -> str:
    """``docstring`` with its Sphinx math and cross-reference roles rewritten."""
    text = "\n".join(_math_blocks(docstring.split("\n")))
    text = MATH_ROLE.sub(lambda match: f"\\({match[1]}\\)", text)
    return ROLE.sub(_role, text)


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring with :func:`markdown` as Griffe loads the objects."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
