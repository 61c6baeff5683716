"""The upload page at / in headless Chromium: choose a photo, see boxes and names on the canvas."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace

import pytest
import requests

from exported_models import copy_version

pytestmark = [pytest.mark.slow, pytest.mark.data]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
KNOWN_COLOUR = (0x16, 0xA3, 0x4A)  # service/static/app.js KNOWN_COLOUR
UNKNOWN_COLOUR = (0xD9, 0x77, 0x06)  # service/static/app.js UNKNOWN_COLOUR
SEVEN = ("test-photos", "multi_face", "seven_people_voc2008_004176.jpg")  # close faces in a row


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the page test needs Playwright: pip install playwright==1.65.2 (no `playwright install`)")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("the page test needs Chromium: apt-get install -y chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def canvas_pixel(page, x: int, y: int) -> tuple[int, int, int]:
    return tuple(page.evaluate(
        "([x, y]) => Array.from(document.getElementById('photo').getContext('2d').getImageData(x, y, 1, 1).data)",
        [x, y])[:3])


def test_upload_shows_boxes_and_names(browser, served_url, face_data, tmp_path):
    photo = face_data / "test-photos" / "multi_face" / "three_people_voc2008_002506.jpg"
    expected = requests.post(served_url + "/v1/predict", data=photo.read_bytes(),
                             headers={"Content-Type": "image/jpeg"}, timeout=30).json()["faces"]
    page, labels, lines = upload(browser, served_url, photo, tmp_path / "page.png")
    assert page.text_content("#status").startswith("3 faces found")
    assert page.get_attribute("#photo", "data-faces") == "3"
    assert [label["text"] for label in labels] == [
        f"{number}. {face['label']} {math.floor(face['probability'] * 100 + 0.5)}%"  # JavaScript's Math.round
        for number, face in enumerate(expected, 1)]
    assert [line.split(" ")[0] for line in lines] == [face["label"] for face in expected] == ["bob"] * 3
    for label, face in zip(labels, expected):
        assert beside(label, face["box"]), (label, face["box"])
    size = page.evaluate("(({width, height}) => [width, height])(document.getElementById('photo'))")
    assert size == [500, 375]
    for face in expected:
        box = face["box"]
        left_edge = canvas_pixel(page, box["x"], box["y"] + box["height"] // 2)
        assert all(abs(a - b) <= 8 for a, b in zip(left_edge, KNOWN_COLOUR)), (box, left_edge)


def test_upload_error_is_shown(browser, served_url, tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not a photo")
    page = browser.new_page()
    page.goto(served_url + "/")
    page.set_input_files("input[name=image]", str(junk))
    page.click("button[type=submit]")
    page.wait_for_selector("#status[data-state=error]", timeout=30_000)
    assert "Undecodable image" in page.text_content("#status")


def submit(browser, url: str, photo, route=None) -> tuple[str, str, list[str]]:
    """Upload `photo` on the page: (status state, status text, script errors)."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    if route is not None:
        page.route("**/v1/predict", route)
    page.goto(url + "/")
    page.set_input_files("input[name=image]", str(photo))
    page.click("button[type=submit]")
    page.wait_for_selector("#status:is([data-state=done], [data-state=error])", timeout=30_000)
    return page.get_attribute("#status", "data-state"), page.text_content("#status"), errors


def test_thin_photo_is_shown(browser, served_url, tmp_path):
    """Issue #13: a 1 x 20000 JPEG (answered 500 before) gets a readable answer on the page."""
    from PIL import Image

    thin = tmp_path / "thin.jpg"
    Image.new("RGB", (1, 20_000), (120, 110, 100)).save(thin, format="JPEG")
    state, text, errors = submit(browser, served_url, thin)
    assert (state, errors) == ("done", []) and text.startswith("No face found")


@pytest.mark.parametrize("route, expected", [
    (None, "Undecodable image: "),  # the service's own problem+json
    (lambda route: route.fulfill(status=502, content_type="text/html", body="<html>Bad gateway</html>"),
     "Error 502"),  # a proxy's HTML page instead of JSON
    (lambda route: route.fulfill(status=200, content_type="application/json", body="{}"), "Unexpected answer"),
    (lambda route: route.abort(), "could not be reached"),
])
def test_any_failure_is_a_readable_message(browser, served_url, tmp_path, route, expected):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo at all\n")
    state, text, errors = submit(browser, served_url, notes, route)
    assert (state, errors) == ("error", []) and expected in text and len(text) > len(expected)


def upload(browser, url: str, photo, shot) -> tuple:
    """Upload on the page; (page, labels drawn [{x, y, width, height}], list lines)."""
    page = browser.new_page()
    page.goto(url + "/")
    page.set_input_files("input[name=image]", str(photo))
    page.click("button[type=submit]")
    page.wait_for_selector("#status[data-state=done]", timeout=30_000)
    page.screenshot(path=str(shot), full_page=True)
    return page, json.loads(page.get_attribute("#photo", "data-labels")), page.locator("#faces li").all_text_contents()


def beside(label: dict, box: dict) -> bool:
    """Whether a label drawn on the canvas shares columns with the box: above, below or on it."""
    return label["x"] < box["x"] + box["width"] and box["x"] < label["x"] + label["width"]


def overlapping(labels: list[dict]) -> list[tuple[int, int]]:
    return [(i, j) for i, a in enumerate(labels) for j, b in enumerate(labels[i + 1:], i + 1)
            if a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]]


def test_labels_of_a_group_photo_never_overlap(browser, served_url, face_data, tmp_path):
    photo = face_data.joinpath(*SEVEN)
    faces = requests.post(served_url + "/v1/predict", data=photo.read_bytes(),
                          headers={"Content-Type": "image/jpeg"}, timeout=30).json()["faces"]
    page, labels, _ = upload(browser, served_url, photo, tmp_path / "group.png")
    assert len(labels) == len(faces) >= 5
    assert overlapping(labels) == []
    assert [label["text"].split(". ")[0] for label in labels] == [str(n) for n in range(1, len(faces) + 1)]
    assert all(beside(label, face["box"]) for label, face in zip(labels, faces)), (labels, faces)
    width, height = page.evaluate("(({width, height}) => [width, height])(document.getElementById('photo'))")
    for label in labels:
        assert 0 <= label["x"] and label["x"] + label["width"] <= width + 1
        assert 0 <= label["y"] and label["y"] + label["height"] <= height + 1


def test_unknown_faces_are_drawn_in_their_own_colour(browser, make_app, serve_app, local_config, exported,
                                                      face_data, tmp_path):
    copy_version(exported["unknown"], tmp_path / "other" / "faces", 1)  # every face below its threshold
    url = serve_app(make_app(replace(local_config, model_base_path=tmp_path / "other")))
    photo = face_data / "test-photos" / "multi_face" / "three_people_voc2008_002506.jpg"
    faces = requests.post(url + "/v1/predict", data=photo.read_bytes(),
                          headers={"Content-Type": "image/jpeg"}, timeout=30).json()["faces"]
    page, labels, lines = upload(browser, url, photo, tmp_path / "unknown.png")
    assert faces and all(face["unknown"] for face in faces)
    assert overlapping(labels) == []
    assert [label["text"] for label in labels] == [f"{n}. unknown (bob?)" for n in range(1, len(faces) + 1)]
    for face in faces:
        box = face["box"]
        left_edge = canvas_pixel(page, box["x"], box["y"] + box["height"] // 2)
        assert all(abs(a - b) <= 8 for a, b in zip(left_edge, UNKNOWN_COLOUR)), (box, left_edge)
    assert all(line.startswith("unknown (score ") and "nearest known: bob" in line for line in lines), lines
    # Issue 19: the threshold shown is the face's own (bob's 0.99), not the pooled 0.9 its score is above.
    assert [line.split(") · ")[0] for line in lines] == [
        f"unknown (score {face['score']:.3f} below threshold {face['threshold']:.3f}" for face in faces]
    assert all(f"{face['threshold']:.3f}" == "0.990" for face in faces)
