"""Every measured figure the docs quote is in a results file (benchmarks/results/*.json).

The rule, exactly:
- A *measured paragraph* is a block of non-blank lines (a table is one block, a list item one)
  in README.md or
  docs/*.md, outside fenced code and outside the block benchmarks/render_figures.py renders,
  that says "measure" in any form or holds a date (2026-MM-DD), that lies under a heading with
  "Measured" or "Figures" in it, or that follows a paragraph naming a source (below) under the
  same heading.
- A *figure* is a number in such a paragraph, outside `code` and link targets, that has a
  decimal point or a unit right after it (s, ms, min, minutes, MB, GB, %, x, images/s, photos/s).
  Goals and limits are not figures: a number right after "goal", "target", "within", "≤", "≥",
  "<=", ">=" or "under" (or "goal is", "goal of"). Settings are quoted as code (`margin = 0.35`),
  examples in fenced code: neither is prose, so neither holds figures.
- Its *sources* are the results files the paragraph names (`openset-2026-12-03-scratch.json`)
  and the files of the benchmarks it names (`benchmarks/gallery_benchmark.py` -> gallery-*.json,
  `scripts/e2e-compose.sh` -> e2e-compose-*.json); a paragraph naming none takes those of the
  paragraphs above it under the same heading.
- A figure is *backed* when some number in its sources equals it after the rounding the text
  uses (as many decimals as it shows), read as it is, in thousands (MB -> GB, ms -> s) or as a
  percentage of a share. A figure without sources, or with no equal number in them, fails.
The rendered block is checked whole instead: it must equal what the renderer makes now.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import recording  # noqa: E402
import render_figures  # noqa: E402

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MEASURED = re.compile(r"measure|\b2026-\d\d-\d\d\b", re.IGNORECASE)
ITEM = re.compile(r"\s*(?:[-*]|\d+\.) ")  # a list item is a block of its own
HEADING = re.compile(r"^#+ .*(measured|figures)", re.IGNORECASE)
UNIT = r"(?:ms|s|min|minutes|MB|GB|%|x|images/s|photos/s)(?![\w/])"
FIGURE = re.compile(rf"(?<![\w.,/#-])(?<!\d-)(\d[\d,]*\.\d+|\d[\d,]*(?=\s?{UNIT}))(?:\s?({UNIT}))?")
SCALES = {"GB": (1, 0.001), "%": (1, 100), "s": (1, 0.001)}  # as written, or from MB, a share, ms
GOAL = re.compile(r"(goal|target|within|≤|≥|<=|>=|under)(\s+(is|of))?\s*$", re.IGNORECASE)
UNQUOTED = re.compile(r"`[^`]*`|\]\([^)]*\)|\b\d{4}-\d\d-\d\d\b")
SOURCE = re.compile(r"(?:benchmarks/(\w+)\.py|scripts/([\w-]+)\.sh|\b([\w-]+-\d{4}-\d\d-\d\d(?:-[\w.-]+)?\.json))")


def paragraphs(text: str):
    """(heading, lines) of every block outside code fences and the rendered block."""
    heading, block, fenced = "", [], False
    text = text.replace(render_figures.rendered_in(text), "") if render_figures.rendered_in(text) else text
    for line in [*text.splitlines(), ""]:
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.startswith("#") or not line.strip() or ITEM.match(line):
            if block:
                yield heading, block
            block = []
            heading = line if line.startswith("#") else heading
        if line.strip() and not line.startswith("#"):
            block.append(line)


def figures(text: str) -> list[str]:
    """The figures of one paragraph (the rule above), as written."""
    plain = UNQUOTED.sub(" ", text)
    found = []
    for match in FIGURE.finditer(plain):
        if not GOAL.search(plain[max(0, match.start() - 12):match.start()]):
            found.append(match.group(1) + (f" {match.group(2)}" if match.group(2) else ""))
    return found


def sources(text: str, folder: Path) -> list[Path]:
    """The results files a paragraph names, directly or through its benchmark."""
    paths = []
    for script, shell, file in SOURCE.findall(text):
        if file:
            paths += [folder / file] if (folder / file).exists() else []
        else:
            name = (script or shell).removesuffix("_benchmark").removesuffix("_table")
            paths += [p for p in folder.glob("*.json") if (recording.parse_file_name(p) or ("",))[0] == name]
    return paths


def numbers(value) -> list[float]:
    """Every number in a JSON value."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        value = list(value.values())
    return [n for item in value for n in numbers(item)] if isinstance(value, list) else []


def backed(figure: str, values: list[float]) -> bool:
    """Whether some value equals the figure after the text's rounding (scaled as its unit says)."""
    text, _, unit = figure.replace(",", "").partition(" ")
    quoted = float(text)
    half = 0.5 * 10 ** -(len(text.split(".")[1]) if "." in text else 0) + 1e-9
    return any(abs(v * scale - quoted) <= half for v in values for scale in SCALES.get(unit, (1,)))


def unbacked(doc: str, folder: Path = recording.RESULTS) -> list[str]:
    """`figure (in: paragraph start)` for every figure of a doc no results file holds."""
    problems, cache = [], {}
    section_heading, section_sources = None, []
    for heading, block in paragraphs(doc):
        text = "\n".join(block)
        if heading != section_heading:
            section_heading, section_sources = heading, []
        named = sources(text, folder)
        section_sources = named or section_sources
        if not (MEASURED.search(text) or HEADING.search(heading) or section_sources):
            continue
        values = [n for path in section_sources for n in cache.setdefault(path, numbers(json.loads(path.read_text())))]
        problems += [f"{figure} (in: {block[0][:70]!r})" for figure in figures(text) if not backed(figure, values)]
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_measured_figure_is_in_a_results_file(doc):
    problems = unbacked(doc.read_text())
    assert not problems, "figures in no results file they cite:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", list(render_figures.BLOCKS), ids=lambda path: path.name)
def test_rendered_figures_are_the_newest_results(doc):
    assert render_figures.rendered_in(doc.read_text()) == render_figures.render(doc), \
        f"{doc.name} is stale: run `python benchmarks/render_figures.py`"


@pytest.fixture
def results(tmp_path):
    (tmp_path / "prepare-2026-12-03.json").write_text(json.dumps(
        {"photos_per_s_1_process": 22.5, "command_cached_run_s": 0.72, "machine": {"cores": 2}}))
    (tmp_path / "e2e-compose-2026-12-03.json").write_text(json.dumps({"images_mb": {"trainer": 2597}}))
    return tmp_path


def test_a_made_up_figure_is_reported(results):
    doc = ("## Measured\n\nPrepare (`benchmarks/prepare_benchmark.py`): 22.5 photos/s with one process, "
           "then 41.7 photos/s, 0.72 s cached, 0.7 s rounded, 0.73 s.\n\n"
           "Images (`e2e-compose-2026-12-03.json`): trainer 2.60 GB, 2.6 GB, 2,597 MB, 2.7 GB, 2.60 MB.\n")
    assert [problem.split(" (")[0] for problem in unbacked(doc, results)] == ["41.7 photos/s", "0.73 s", "2.7 GB",
                                                                             "2.60 MB"]  # MB is not scaled


def test_a_figure_without_a_source_is_reported(results):
    assert unbacked("Measured on 2026-11-27: 0.72 s for a cached run.\n", results) \
        == ["0.72 s (in: 'Measured on 2026-11-27: 0.72 s for a cached run.')"]


def test_a_source_carries_to_the_paragraphs_below_it_in_its_section(results):
    doc = "### Figures\n\nFrom `scripts/e2e-compose.sh`:\n\n| image | 2.60 GB |\n\n## Next\n\n| measured | 2.60 GB |\n"
    assert [problem.split()[0] for problem in unbacked(doc, results)] == ["2.60"]  # the second table: no source


def test_goals_settings_and_code_are_not_figures():
    assert figures("measured: 0.944 named (goal 0.95), p50 ≤ 1.2x, `--set train.lr=0.5`, 5 photos, "
                   "[x](docs/v1.2.md), 2026-12-03, 1,020 requests, 396 MB, 3.6x and 8 min") \
        == ["0.944", "396 MB", "3.6 x", "8 min"]
