"""The README stays a front door that matches the tree; the docs' links and the Chinese
companion of docs/backprop.md stay in step with what they describe."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
DOCS = sorted((REPO / "docs").glob("*.md"))


def test_readme_is_a_front_door():
    assert len(README.splitlines()) <= 250


def test_readme_layout_table_matches_the_package():
    section = README.split("## How the code is laid out")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = set()
    for row in rows:
        cell = row.split("|")[1]
        paths = re.findall(r"`([^`]+)`", cell)
        first = paths[0]
        folder = first.rstrip("/") if first.endswith("/") else first.rsplit("/", 1)[0]
        for path in paths:
            full = path if "/" in path else f"{folder}/{path}"
            assert (REPO / full).exists(), full
            named.add(full)
    package = REPO / "mnist_convnet"
    modules = {
        p.relative_to(REPO).as_posix()
        for p in package.rglob("[!_]*.py")
        if p.parent.name not in ("commands", "serving", "static", "node_modules")
        and "node_modules" not in p.parts
    }
    assert modules <= named, sorted(modules - named)
    assert {"mnist_convnet/commands/", "mnist_convnet/serving/"} <= named


def test_every_relative_link_in_the_readme_and_docs_exists():
    for page in [REPO / "README.md", *DOCS]:
        for target in re.findall(r"\]\(([\w./-]+)\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_the_chinese_backprop_page_follows_the_english_one():
    english = (REPO / "docs" / "backprop.md").read_text()
    chinese = (REPO / "docs" / "backprop.zh-CN.md").read_text()
    section_numbers = lambda text: re.findall(r"^## (\d+)\.", text, re.M)
    assert section_numbers(chinese) == section_numbers(english)
    equations = lambda text: sorted(set(re.findall(r"\((\d)\)", text)))
    assert equations(chinese) == equations(english)
    code = lambda text: {ref for ref in re.findall(r"`([\w.]+)`", text) if "_" in ref or "." in ref}
    assert code(chinese) == code(english)


# The article's ideas as the page's Chinese panel names them: backprop.zh-CN.md's words.
PAGE_TERMS = (
    "特征图",
    "正向传播",
    "反向传播",
    "预测减去真值",
    "最大值所在的位置",
    "输入梯度",
    "激活函数",
    "加权求和",
    "梯度下降",
)


def test_the_pages_chinese_uses_the_chinese_backprop_pages_words():
    page = (REPO / "mnist_convnet" / "static" / "index.html").read_text()
    chinese = page[page.index("  zh: {") :]
    doc = (REPO / "docs" / "backprop.zh-CN.md").read_text()
    for term in PAGE_TERMS:
        assert term in chinese and term in doc, term


# (README, "Section") or (docs/page.md) or (docs/page.md, "Section") in a docstring.
_REFERENCE = re.compile(r'\((README|docs/[\w.-]+\.md)(?:, "([^"]+)")?\)')


def test_references_from_the_code_name_pages_and_sections_that_exist():
    """Text moves from the README into docs/: a docstring citing a section that is no
    longer there sends its reader nowhere."""
    sources = [*(REPO / "mnist_convnet").rglob("*.py"), *(REPO / "bench").glob("*.py")]
    found = 0
    for source in sources:
        for page, section in _REFERENCE.findall(source.read_text()):
            found += 1
            target = REPO / ("README.md" if page == "README" else page)
            assert target.exists(), f"{source.name}: {page}"
            if section:
                lines = target.read_text().splitlines()
                headings = [line.lstrip("#").strip() for line in lines if line.startswith("#")]
                assert section in headings, f'{source.name}: ({page}, "{section}")'
    assert found >= 2  # the pattern still matches how the code cites the docs
