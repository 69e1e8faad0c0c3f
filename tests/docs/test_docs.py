"""The user documentation is executable and says only what the code does.

- every ```python block of the pages below runs (blocks of one page share a namespace,
  in order, like a notebook) in a scratch folder with scratch data/cache folders and
  warnings as errors;
- every ``probmoll COMMAND --flag`` and every backticked ``--flag`` names a real command
  and option of the command line;
- every backticked ``probmoll.some.name`` resolves to an object;
- every relative link points to a page of docs/ or of the mkdocs navigation.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Pages whose python blocks run and whose links are checked here.
PAGES = ("index.md", "mollification.md", "evaluation.md", "models_and_augmentation.md", "bayes.md")
# Every page of docs/ but the recipes, which quote the options of timm's and torchvision's
# scripts: the commands and ``probmoll.*`` names they mention must exist.
ALL_PAGES = tuple(
    sorted(
        path.relative_to(DOCS).as_posix()
        for path in DOCS.rglob("*.md")
        if path.relative_to(DOCS).parts[0] != "recipes"
    )
)

CODE_BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
COMMAND = re.compile(r"(?:^|[\s=])probmoll (\w+)(.*)", re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
BACKTICKED_FLAG = re.compile(r"`(--[a-z][a-z0-9-]*)")
DOTTED_NAME = re.compile(r"`(probmoll(?:\.[A-Za-z_]\w*)+)`")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def code_blocks(text: str, language: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of the fenced blocks in ``language``."""
    return [
        (text.count("\n", 0, match.start(2)) + 1, match.group(2))
        for match in CODE_BLOCK.finditer(text)
        if match.group(1) == language
    ]


def command_line_options() -> dict[str, set[str]]:
    """``{command: option strings}`` of the ``probmoll`` command line."""
    import argparse

    from probmoll.cli import build_parser

    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: set(sub._option_string_actions) for name, sub in subparsers.choices.items()}


def test_blocks_are_found():
    text = "intro\n```python\nx = 1\n```\n\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert code_blocks(text, "python") == [(3, "x = 1\n"), (10, "y = 2\n")]
    assert code_blocks(text, "bash") == [(7, "ls\n")]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A scratch working folder, data root and cache; registries and RNG restored after."""
    from probmoll.data import registry as dataset_registry
    from probmoll.models import registry as model_registry

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PROBMOLL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PROBMOLL_CACHE", str(tmp_path / "cache"))
    with (
        model_registry.MODELS.scoped(),
        dataset_registry.DATASETS.scoped(),
        torch.random.fork_rng(devices=[]),
    ):
        yield work


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page, sandbox):
    blocks = code_blocks(read(page), "python")
    assert blocks, f"{page} has no python example"
    namespace: dict = {"__name__": f"docs_{page.removesuffix('.md')}"}
    for line, source in blocks:
        # Line numbers in tracebacks are those of the page.
        code = compile("\n" * (line - 1) + source, str(DOCS / page), "exec")
        exec(code, namespace)


def command_problems(text: str, options: dict[str, set[str]]) -> list[str]:
    """Commands and options named in ``text`` that the command line does not have."""
    # Command lines live in bash blocks (continuation lines joined, comments dropped)
    # and in inline code; prose may say "probmoll is ..." freely.
    snippets = [
        re.sub(r"\s+#.*", "", line)
        for _, block in code_blocks(text, "bash")
        for line in block.replace("\\\n", " ").splitlines()
    ]
    snippets += INLINE_CODE.findall(text)
    problems = []
    for command, rest in (match for snippet in snippets for match in COMMAND.findall(snippet)):
        if command not in options:
            problems.append(f"`probmoll {command}` is not a command")
            continue
        problems += [
            f"`probmoll {command}` has no {flag}"
            for flag in FLAG.findall(rest)
            if flag not in options[command]
        ]
    known = set().union(*options.values())
    problems += [
        f"no command has the option {flag}"
        for flag in BACKTICKED_FLAG.findall(text)
        if flag not in known
    ]
    return problems


def test_command_checker_finds_mistakes():
    options = {"demo": {"--out"}, "evaluate": {"--checkpoint", "--subset"}}
    text = (
        "probmoll is a library; run `probmoll demo --out x`.\n"
        "```bash\nprobmoll evaluate --checkpoint run \\\n    --subsett 5  # --nope\n"
        "python -m probmoll trian\n```\nSee `--subset` and `--sub`.\n"
    )
    assert command_problems(text, options) == [
        "`probmoll evaluate` has no --subsett",
        "`probmoll trian` is not a command",
        "no command has the option --sub",
    ]


@pytest.mark.parametrize("page", ALL_PAGES)
def test_command_lines_exist(page):
    assert command_problems(read(page), command_line_options()) == []


def resolve(dotted: str):
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_named_objects_exist(page):
    for dotted in DOTTED_NAME.findall(read(page)):
        try:
            resolve(dotted)
        except (ModuleNotFoundError, AttributeError) as error:
            pytest.fail(f"{page}: `{dotted}` does not exist ({error})")


def navigation() -> list[str]:
    """The pages of the mkdocs navigation, sections flattened, in order."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(entries) -> list[str]:
        found = []
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            found += pages(value) if isinstance(value, list) else [value]
        return found

    return pages(config["nav"])


@pytest.mark.parametrize("page", PAGES)
def test_links_point_to_pages(page):
    pages = set(navigation()) | {p.name for p in DOCS.glob("*.md")}
    for target in LINK.findall(read(page)):
        if "://" in target:
            continue
        assert target in pages, f"{page} links to {target}, which is neither in docs/ nor the nav"


def test_pages_are_in_the_navigation():
    nav = navigation()
    assert all(page in nav for page in PAGES), nav
    assert nav.index("models_and_augmentation.md") == nav.index("evaluation.md") + 1
