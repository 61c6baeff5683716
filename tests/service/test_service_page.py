"""The upload page at / in headless Chromium: choose a photo, see boxes and names on the canvas."""

from __future__ import annotations

import shutil

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.data]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
KNOWN_COLOUR = (0x16, 0xA3, 0x4A)  # service/static/app.js KNOWN_COLOUR


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
    page = browser.new_page()
    page.goto(served_url + "/")
    page.set_input_files("input[name=image]", str(photo))
    page.click("button[type=submit]")
    page.wait_for_selector("#status[data-state=done]", timeout=30_000)
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert page.text_content("#status").startswith("3 faces found")
    assert page.get_attribute("#photo", "data-faces") == "3"
    assert page.locator("#faces li").all_text_contents()[0].startswith("bob")
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
