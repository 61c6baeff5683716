"""The People view and the editing controls of the page at /, in headless Chromium, against the
real app with enrolment on (people_app: a predict key, an admin key, DATA_DIR in tmp_path).

What the page sent is read from the browser's requests on their way (a pass-through route); what
the service did, from the data folder and the service's answers.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from dataclasses import replace
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import requests
from PIL import Image
from werkzeug.test import create_environ
from werkzeug.wrappers import Request

from facecore.detect import Box
from facecore.images import decode_image
from service.screening import correction_crop
from test_service_page import browser  # noqa: F401  (the Chromium fixture)

pytestmark = [pytest.mark.slow, pytest.mark.data]

STARTING = ("Alvaro_Uribe", "Andre_Agassi")  # in the data folder before each test, two photos each
NEWCOMER = "Hans_Blix"
THREE = ("test-photos", "multi_face", "three_people_voc2008_002506.jpg")
API_PATHS = re.compile(r"^/v1/(people|corrections|trainer)(/.*)?$")
BOB = {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 7}  # bob's test figures in report.json
TIMEOUT_MS = 20_000


@pytest.fixture
def site(people_app, people_config, serve_app, face_data):
    """The served people_app, its data folder seeded with STARTING, and bob's figures in report.json."""
    for name in STARTING:
        (people_config.data_dir / name).mkdir()
        for photo in sorted((face_data / "lfw-known" / name).iterdir())[:2]:
            shutil.copy(photo, people_config.data_dir / name / photo.name)
    version = people_config.model_base_path / people_config.model_name / "1"
    (version / "report.json").write_text(json.dumps({"per_class": {"bob": BOB}}))
    return serve_app(people_app)


@pytest.fixture
def keys(people_config) -> dict[str, str]:
    return {"admin": people_config.admin_keys[0], "predict": people_config.api_keys[0]}


class Sent(list):
    """The browser's requests to the people and trainer API, as (method, path, headers, body)."""

    def of(self, method: str, path_start: str = "/v1/") -> list:
        return [sent for sent in self if sent[0] == method and sent[1].startswith(path_start)]


@pytest.fixture
def open_page(browser, site, keys, tmp_path):  # noqa: F811
    """open_page(key, view, url): a fresh page given `key` as admin key (None: none), its requests
    and script errors; each page's screenshot is written to tmp_path at the end."""
    pages = []

    def open_(key: str | None = keys["admin"], view: str = "people", url: str = site):
        page = browser.new_page()
        pages.append(page)
        errors, sent = [], Sent()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route(lambda url: bool(API_PATHS.match(urlparse(url).path)), lambda route: record(route, sent))
        page.goto(f"{url}/#{view}")
        page.wait_for_selector("#admin-status[data-state=none]")
        if key is not None:
            page.fill("[name=adminkey]", key)
            page.click("#use-key")
            page.wait_for_selector("#admin-status:not([data-state=checking]):not([data-state=none])")
        return page, sent, errors

    yield open_
    for number, page in enumerate(pages):
        page.screenshot(path=str(tmp_path / f"page-{number}.png"), full_page=True)
        page.close()


def record(route, sent: Sent) -> None:
    """Note a request on its way to the service (Chromium shows an upload's body only to a route)."""
    request = route.request
    sent.append((request.method, unquote(urlparse(request.url).path), request.headers, request.post_data_buffer))
    route.continue_()


def multipart(headers: dict, body: bytes) -> Request:
    """A request body as Flask parses it (fields in .form, files in .files)."""
    environ = create_environ(method="POST", input_stream=io.BytesIO(body), content_length=len(body),
                             content_type=headers.get("content-type", ""))
    return Request(environ)


def visible(page, selector: str) -> bool:
    return page.locator(selector).first.is_visible()


def person(page, name: str):
    return page.locator(f".person[data-name='{name}']")


EDITING = ["#retrain", "#add", "#drop", ".person .remove-person"]


def test_editing_controls_need_an_admin_key(open_page, keys):
    page, sent, errors = open_page(key=None)
    assert "need an admin key" in page.text_content("#admin-status")
    assert [visible(page, selector) for selector in ["#tab-people", "#trainer-state"]] == [True, True]
    assert [visible(page, selector) for selector in EDITING[:3]] == [False] * 3
    assert page.get_attribute("body", "data-editing") == "off"

    page.fill("[name=adminkey]", "not-a-key")
    page.click("#use-key")
    page.wait_for_selector("#admin-status[data-state=refused]")
    assert "the API key is not valid" in page.text_content("#admin-status")
    assert [visible(page, selector) for selector in EDITING[:3]] == [False] * 3
    assert sent.of("GET", "/v1/people")[-1][2]["authorization"] == "Bearer not-a-key"

    page.fill("[name=adminkey]", keys["admin"])
    page.click("#use-key")
    page.wait_for_selector("#admin-status[data-state=on]")
    person(page, STARTING[0]).locator(".remove-person").wait_for(timeout=TIMEOUT_MS)
    assert [visible(page, selector) for selector in EDITING] == [True] * 4
    page.reload()  # the key is kept for the session
    page.wait_for_selector("#admin-status[data-state=on]")
    assert page.input_value("[name=adminkey]") == keys["admin"] and visible(page, "#retrain")
    assert errors == []


def test_the_list_shows_counts_standing_and_quality(open_page):
    page, sent, errors = open_page()
    person(page, "bob").wait_for(timeout=TIMEOUT_MS)
    rows = {item.get_attribute("data-name"): [item.locator(part).text_content() for part in (
        ".count", ".standing", ".quality")] for item in page.locator(".person").all()}
    assert rows == {
        "Alvaro_Uribe": ["2 photos", "pending: in the next version", "quality not measured"],
        "Andre_Agassi": ["2 photos", "pending: in the next version", "quality not measured"],
        "alice": ["0 photos", "known", "quality not measured"],
        "bob": ["0 photos", "known", "F1 0.85 (precision 0.90, recall 0.80, 7 test photos)"],
        "carol": ["0 photos", "known", "quality not measured"],
    }
    assert page.text_content("#people-status") == "5 people."
    buttons = {name: person(page, name).locator("button").all_text_contents() for name in ("bob", STARTING[0])}
    assert buttons == {"bob": [], STARTING[0]: ["Photos", "Remove person"]}  # bob: only the model knows him
    assert errors == []


def test_a_predict_key_reads_but_sees_no_editing_control(open_page, keys):
    """The list says whether the key may change people (can_edit): a predict key never sees a control."""
    page, sent, errors = open_page(key=keys["predict"])
    page.wait_for_selector("#admin-status[data-state=readonly]")
    assert "may read the people but not change them" in page.text_content("#admin-status")
    person(page, STARTING[0]).wait_for(timeout=TIMEOUT_MS)
    assert [visible(page, selector) for selector in EDITING] == [False] * 4
    assert sent.of("POST") == [] and errors == []


def test_a_refused_write_hides_the_controls(open_page, keys):
    """A key that stops being an admin key (rotated while the page is open) is answered 403 at its
    next change: the controls go, the reason shows."""
    page, sent, errors = open_page(key=keys["admin"])
    assert visible(page, "#retrain")
    page.evaluate("(key) => sessionStorage.setItem('faceid.adminKey', key)", keys["predict"])
    page.click("#retrain")
    page.wait_for_selector("#admin-status[data-state=refused]")
    assert "needs an admin key (ADMIN_KEYS), not a predict key" in page.text_content("#admin-status")
    assert "needs an admin key" in page.text_content("#retrain-result")
    assert [visible(page, selector) for selector in EDITING] == [False] * 4
    assert [path for _, path, *_ in sent.of("POST")] == ["/v1/trainer/retrain"]
    assert errors == []


def test_enrolment_off_keeps_the_controls_hidden(open_page, make_app, people_config, serve_app, keys):
    url = serve_app(make_app(replace(people_config, enrolment=False)))
    page, sent, errors = open_page(url=url)
    assert page.get_attribute("#admin-status", "data-state") == "off"
    assert "enrolment is off" in page.text_content("#admin-status")
    person(page, STARTING[0]).wait_for(timeout=TIMEOUT_MS)
    assert [visible(page, selector) for selector in EDITING] == [False] * 4
    assert errors == []


def drop_files(page, selector: str, files: list[tuple[str, bytes]]) -> None:
    """Drag `files` (name, bytes) onto `selector` as a user dropping them from a file manager."""
    payload = [{"name": name, "data": base64.b64encode(data).decode()} for name, data in files]
    transfer = page.evaluate_handle("""(files) => {
        const transfer = new DataTransfer();
        for (const file of files) {
            const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], file.name, { type: "image/jpeg" }));
        }
        return transfer;
    }""", payload)
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def results(page) -> list[tuple[str, str, str]]:
    """The add-photos result lines, once all are final: (file name, outcome, text)."""
    page.wait_for_function("""() => { const lines = [...document.querySelectorAll('#add-results li')];
        return lines.length && lines.every((l) => !['busy', undefined].includes(l.dataset.outcome)); }""",
                           timeout=TIMEOUT_MS)
    return [(line.get_attribute("data-file"), line.get_attribute("data-outcome"),
             line.locator(".outcome").text_content()) for line in page.locator("#add-results li").all()]


def test_dropped_photos_are_sent_one_each_and_listed(open_page, face_data, people_config, keys):
    paths = sorted((face_data / "lfw-known" / NEWCOMER).iterdir())[:2]
    page, sent, errors = open_page()
    page.fill("#add [name=person]", NEWCOMER)
    drop_files(page, "#drop", [(path.name, path.read_bytes()) for path in paths])
    lines = results(page)
    kept = sorted(p.name for p in (people_config.data_dir / NEWCOMER).iterdir())
    assert [(file, outcome) for file, outcome, _ in lines] == [(path.name, "added") for path in paths]
    assert sorted(text.rpartition(" as ")[2] for *_, text in lines) == kept and len(kept) == 2
    posts = sent.of("POST", f"/v1/people/{NEWCOMER}/photos")
    assert [headers["authorization"] for _, _, headers, _ in posts] == [f"Bearer {keys['admin']}"] * 2
    uploaded = [multipart(headers, body).files.getlist("image") for _, _, headers, body in posts]
    assert [[part.read() for part in parts] for parts in uploaded] == [[path.read_bytes()] for path in paths]

    newcomer = person(page, NEWCOMER)
    newcomer.wait_for(timeout=TIMEOUT_MS)
    assert newcomer.locator(".count").text_content() == "2 photos"
    assert newcomer.locator(".standing").text_content() == "pending: in the next version"
    page.wait_for_function(f"document.querySelectorAll(\".person[data-name='{NEWCOMER}'] .thumb img\").length == 2",
                           timeout=TIMEOUT_MS)
    assert newcomer.locator(".thumb").evaluate_all("(figures) => figures.map((f) => f.dataset.id)") == kept
    page.wait_for_function(f"[...document.querySelectorAll(\".person[data-name='{NEWCOMER}'] .thumb img\")]"
                           ".every((img) => img.complete && img.naturalWidth > 0)")
    widths = newcomer.locator(".thumb img").evaluate_all("(images) => images.map((img) => img.naturalWidth)")
    assert widths == [250, 250]  # LFW photos, decoded from the bytes the service gave back

    third = sorted((face_data / "lfw-known" / NEWCOMER).iterdir())[2]  # dropped on the person in the list
    drop_files(page, f".person[data-name='{NEWCOMER}'] .person-head", [(third.name, third.read_bytes())])
    page.wait_for_function(f"document.querySelectorAll(\".person[data-name='{NEWCOMER}'] .thumb img\").length == 3",
                           timeout=TIMEOUT_MS)
    assert [outcome for _, outcome, _ in results(page)] == ["added"]
    assert person(page, NEWCOMER).locator(".count").text_content() == "3 photos"
    assert len(list((people_config.data_dir / NEWCOMER).iterdir())) == 3
    assert errors == []


def test_a_refused_file_shows_its_reason(open_page, face_data, site, keys, tmp_path):
    """Files chosen with the file input (not dropped): a photo, a text file, the photo again."""
    photo = sorted((face_data / "lfw-known" / NEWCOMER).iterdir())[0]
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    page, sent, errors = open_page()
    page.fill("#add [name=person]", NEWCOMER)
    page.set_input_files("#add [name=photos]", [str(photo), str(notes), str(photo)])
    lines = results(page)
    assert [(file, outcome) for file, outcome, _ in lines] == [
        (photo.name, "added"), ("notes.txt", "refused"), (photo.name, "refused")]
    # Each reason is the service's own: the same files sent again are refused in the same words.
    for (path, kind), (_, _, text) in zip([(notes, "text/plain"), (photo, "image/jpeg")], lines[1:]):
        again = requests.post(f"{site}/v1/people/{NEWCOMER}/photos", timeout=30,
                              files={"image": (path.name, path.read_bytes(), kind)},
                              headers={"Authorization": f"Bearer {keys['admin']}"})
        assert again.status_code in (400, 409, 415, 422)
        assert text == f"refused: {again.json()['title']}: {again.json()['detail']}"
    assert len(sent.of("POST", f"/v1/people/{NEWCOMER}/photos")) == 3
    person(page, NEWCOMER).wait_for(timeout=TIMEOUT_MS)
    assert person(page, NEWCOMER).locator(".count").text_content() == "1 photo"
    assert errors == []


def test_wrong_sends_the_photo_and_box_of_that_face(open_page, site, face_data, people_config, keys):
    photo = face_data.joinpath(*THREE)
    faces = requests.post(site + "/v1/predict", data=photo.read_bytes(), timeout=30, headers={
        "Content-Type": "image/jpeg", "Authorization": f"Bearer {keys['predict']}"}).json()["faces"]
    names = [p["name"] for p in requests.get(site + "/v1/people", timeout=30, headers={
        "Authorization": f"Bearer {keys['predict']}"}).json()["people"]]
    page, sent, errors = open_page(view="identify")
    page.set_input_files("input[name=image]", str(photo))
    page.click("button[type=submit]")
    page.wait_for_selector("#status[data-state=done]", timeout=30_000)
    lines = page.locator("#faces li")
    assert lines.count() == len(faces) == 3

    correct(lines.nth(1), "nobody I know")
    assert lines.nth(1).locator("select[name=person] option").count() == 0  # the form is gone once sent
    correct(lines.nth(2), "someone new…", "Zoe Example")
    assert "nobody I know" in lines.nth(1).locator(".correction-result").text_content()
    assert "Zoe Example" in lines.nth(2).locator(".correction-result").text_content()
    assert lines.nth(0).locator(".correction-result").text_content() == ""
    assert offered(page, lines.nth(0)) == [*names, "nobody I know", "someone new…"]

    sent_forms = [multipart(headers, body).form for _, _, headers, body in sent.of("POST", "/v1/corrections")]
    assert [{side: int(form[side]) for side in ("x", "y", "width", "height")} for form in sent_forms] == [
        faces[1]["box"], faces[2]["box"]]
    assert [form["person"] for form in sent_forms] == ["", "Zoe Example"]
    # The service kept the crop around each face's box, cut from the very photo shown.
    pixels = decode_image(photo.read_bytes())
    stranger, = (people_config.data_dir / ".strangers").glob("*/*.png")
    named, = (people_config.data_dir / "Zoe Example").glob("*.png")
    for kept, face in [(stranger, faces[1]), (named, faces[2])]:
        assert np.array_equal(np.asarray(Image.open(kept).convert("RGB")), correction_crop(pixels, Box(**face["box"])))
    assert errors == []


def offered(page, line) -> list[str]:
    """The names the "wrong?" form of a face line offers (it is opened, read and cancelled)."""
    line.locator("button.wrong").click()
    options = line.locator("select[name=person] option")
    options.last.wait_for(state="attached", timeout=TIMEOUT_MS)
    texts = options.all_text_contents()
    line.locator("button.cancel").click()
    return texts


def correct(line, choice: str, new_name: str | None = None) -> None:
    line.locator("button.wrong").click()
    line.locator("select[name=person] option").last.wait_for(state="attached", timeout=TIMEOUT_MS)
    line.locator("select[name=person]").select_option(label=choice)
    if new_name is not None:
        line.locator("[name=newname]").fill(new_name)
    line.locator("button.send").click()
    line.locator(".correction-result[data-outcome=sent]").wait_for(timeout=TIMEOUT_MS)


def test_wrong_is_hidden_without_an_admin_key(open_page, face_data, keys):
    page, sent, errors = open_page(key=None, view="identify")
    page.fill("#upload [name=apikey]", keys["predict"])
    page.set_input_files("input[name=image]", str(face_data.joinpath(*THREE)))
    page.click("button[type=submit]")
    page.wait_for_selector("#status[data-state=done]", timeout=30_000)
    assert page.locator("#faces li button.wrong").count() == 3
    assert [button.is_visible() for button in page.locator("#faces li button.wrong").all()] == [False] * 3
    assert errors == []


def test_remove_asks_first_then_sends_delete(open_page, people_config):
    page, sent, errors = open_page()
    gone, kept = STARTING
    person(page, gone).wait_for(timeout=TIMEOUT_MS)
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    person(page, gone).locator(".remove-person").click()
    assert len(questions) == 1 and sent.of("DELETE") == [] and person(page, gone).count() == 1

    page.once("dialog", lambda dialog: answer(dialog, True))
    person(page, gone).locator(".remove-person").click()
    person(page, gone).wait_for(state="detached", timeout=TIMEOUT_MS)
    assert questions[1] == questions[0] and gone in questions[0] and "2 of their photos" in questions[0]
    assert not (people_config.data_dir / gone).exists()

    person(page, kept).locator("button.show").click()
    page.wait_for_function(f"document.querySelectorAll(\".person[data-name='{kept}'] .thumb\").length == 2")
    photo_id = person(page, kept).locator(".thumb").first.get_attribute("data-id")
    page.once("dialog", lambda dialog: answer(dialog, True))
    person(page, kept).locator(".thumb").first.locator(".remove-photo").click()
    page.wait_for_function(f"document.querySelectorAll(\".person[data-name='{kept}'] .thumb\").length == 1")
    assert [(method, path) for method, path, *_ in sent.of("DELETE")] == [
        ("DELETE", f"/v1/people/{gone}"), ("DELETE", f"/v1/people/{kept}/photos/{photo_id}")]
    assert person(page, kept).locator(".count").text_content() == "1 photo"
    assert not (people_config.data_dir / kept / photo_id).exists()
    assert errors == []


def write_status(people_config, status: dict) -> None:
    """The trainer's status file, as the trainer writes it (docs/people.md)."""
    (people_config.model_base_path / ".trainer-status.json").write_text(json.dumps(status))


def test_trainer_status_shows_progress(open_page, people_config, tmp_path):
    write_status(people_config, {"state": "running", "job": "update", "since": 1_700_000_000,
                                 "progress": {"stage": "enrolling", "done": 3, "total": 8}, "last": None})
    page, sent, errors = open_page()
    page.wait_for_selector("#trainer-state[data-state=running]", timeout=TIMEOUT_MS)
    assert "Running update" in page.text_content("#trainer-state")
    assert "enrolling 3/8" in page.text_content("#trainer-state")
    assert page.evaluate("[document.getElementById('trainer-progress').value, "
                         "document.getElementById('trainer-progress').max]") == [3, 8]
    assert visible(page, "#trainer-progress")
    page.screenshot(path=str(tmp_path / "trainer-running.png"), full_page=True)

    write_status(people_config, {"state": "idle", "job": None, "since": None, "progress": None,
                                 "last": {"job": "update", "outcome": "published", "version": 5, "reason": None,
                                          "finished_at": 1_700_000_100}})
    page.wait_for_selector("#trainer-state[data-state=idle]", timeout=TIMEOUT_MS)  # the next poll
    assert "update published version 5" in page.text_content("#trainer-last")
    assert not visible(page, "#trainer-progress")

    page.click("#retrain")
    page.wait_for_selector("#retrain-result[data-outcome=requested]", timeout=TIMEOUT_MS)
    assert [path for _, path, *_ in sent.of("POST")] == ["/v1/trainer/retrain"]
    assert json.loads((people_config.data_dir / ".retrain-requested").read_text())["by"] == "api"

    page.click("#tab-identify")  # polling stops with the People view closed
    polls = len(sent.of("GET", "/v1/trainer"))
    page.wait_for_timeout(4_000)
    assert len(sent.of("GET", "/v1/trainer")) == polls
    assert errors == []


def test_an_unknown_trainer_says_why(open_page):
    page, sent, errors = open_page()
    page.wait_for_selector("#trainer-state[data-state=unknown]", timeout=TIMEOUT_MS)
    assert "no .trainer-status.json in" in page.text_content("#trainer-state")
    assert page.text_content("#trainer-last") == "No finished run yet."
    assert errors == []
