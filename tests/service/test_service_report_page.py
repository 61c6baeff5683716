"""Issue #22 in Chromium: a version's run report from the page's link, and the explanation overlay."""

from __future__ import annotations

import shutil

import pytest

from test_service_page import browser  # noqa: F401  (the Chromium fixture)

pytestmark = [pytest.mark.slow, pytest.mark.data]
PEOPLE = ("alice", "bob", "carol")  # the exported models' class names, given lfw-known photos


@pytest.fixture(scope="module")
def model_report(exported, face_data, tmp_path_factory):
    """report.html of exported v1 (it names everyone bob) scored by `trainer evaluate --model` on
    4 photos each of three lfw-known people filed as alice, bob and carol."""
    from trainer.commands import main

    root = tmp_path_factory.mktemp("report")
    lfw = sorted(p for p in (face_data / "lfw-known").iterdir() if p.is_dir())
    for name, person in zip(PEOPLE, lfw):
        (root / "data" / name).mkdir(parents=True)
        for photo in sorted(person.glob("*.jpg"))[:4]:
            shutil.copyfile(photo, root / "data" / name / photo.name)
    assert main(["evaluate", "--model", str(exported["v1"]), "--data", str(root / "data"),
                 "--out", str(root / "out")]) == 0
    return root / "out" / "report.html"


def test_report_link_opens_the_report(browser, models_root, served_url, model_report, tmp_path):  # noqa: F811
    shutil.copyfile(model_report, models_root / "faces" / "1" / "report.html")
    page = browser.new_page()
    page.goto(served_url + "/")
    page.wait_for_selector("#report-item:not([hidden])", timeout=30_000)
    assert page.get_attribute("#report-link", "href") == "/v1/models/faces/report?version=1"
    page.screenshot(path=str(tmp_path / "page-with-report-link.png"), full_page=True)
    page.click("#report-link")
    page.wait_for_selector("section#mistakes", timeout=30_000)
    assert page.text_content("h1").startswith("Model report")
    sections = page.locator("section h2").all_text_contents()
    assert sections == ["What went in", "How training went", "What came out", "The mistakes", "Inside the network"]
    # v1 names every face bob: the faces of alice and carol are its mistakes, each beside a bob face
    mistakes = page.locator("section#mistakes figcaption").all_text_contents()
    assert mistakes and all(text.split(":")[0] in ("alice", "carol") and "bob" in text for text in mistakes)
    images = page.evaluate("Array.from(document.images).map(i => [i.src.slice(0, 22), i.naturalWidth > 0])")
    assert images and all(src == "data:image/png;base64," and loaded for src, loaded in images)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)


def test_explain_toggle_overlays_heatmaps(browser, served_url, face_data, tmp_path):  # noqa: F811
    photo = face_data / "test-photos" / "multi_face" / "three_people_voc2008_002506.jpg"
    page = browser.new_page()
    page.goto(served_url + "/")
    page.check("input[name=explain]")
    page.set_input_files("input[name=image]", str(photo))
    page.click("button[type=submit]")
    page.wait_for_selector("#status[data-state=done]", timeout=30_000)
    assert page.get_attribute("#photo", "data-heatmaps") == page.get_attribute("#photo", "data-faces") == "3"
    page.screenshot(path=str(tmp_path / "explained.png"), full_page=True)
    page.uncheck("input[name=explain]")
    page.click("button[type=submit]")
    page.wait_for_selector("#status[data-state=done]", timeout=30_000)
    assert page.get_attribute("#photo", "data-heatmaps") == "0"
