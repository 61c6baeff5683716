"""Two clients adding photos at once lose none and keep no photo twice (docs/people.md)."""

from __future__ import annotations

import io
import multiprocessing
import threading
from collections import Counter

import pytest

from facecore.detect import FaceDetector
from facecore.images import decode_image, pixel_hash

pytestmark = pytest.mark.data

PER_CLIENT, SHARED = 20, 10


@pytest.fixture(scope="module")
def lfw_faces(face_data) -> list[bytes]:
    """30 LFW photos in which the test model's detector (the default one) finds one large face."""
    detector, chosen = FaceDetector(), []
    for path in sorted((face_data / "lfw-known").rglob("*.jpg")):
        faces = detector.detect(decode_image(path.read_bytes()))
        if len(faces) == 1 and min(faces[0].width, faces[0].height) >= 40:
            chosen.append(path.read_bytes())
        if len(chosen) == 2 * PER_CLIENT - SHARED:
            return chosen
    pytest.fail("fewer than 30 LFW photos with one large face")


def add_all(app, person: str, photos: list[bytes], start: threading.Barrier, answers: list, as_admin: dict):
    client = app.test_client()
    start.wait()
    for data in photos:
        response = client.post(f"/v1/people/{person}/photos", headers=as_admin,
                               data={"image": (io.BytesIO(data), "p.jpg")})
        answers.append((data, response.status_code, response.get_json()))


@pytest.mark.parametrize("people", [("alice", "zoe"), ("alice", "alice")])
def test_two_clients_adding_at_once_lose_nothing(people_app, data_dir, lfw_faces, as_admin, disk, people):
    # Both clients send the shared photos first, in the same order: each is sent twice at once.
    own, shared = lfw_faces[:-SHARED], lfw_faces[-SHARED:]
    batches = [shared + own[:PER_CLIENT - SHARED], shared + own[PER_CLIENT - SHARED:]]
    start, answers = threading.Barrier(2), [[], []]
    threads = [threading.Thread(target=add_all, args=(people_app, person, batch, start, out, as_admin))
               for person, batch, out in zip(people, batches, answers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    every = answers[0] + answers[1]
    assert len(every) == 2 * PER_CLIENT
    assert Counter(status for _, status, _ in every) == {201: 2 * PER_CLIENT - SHARED, 409: SHARED}
    for data in shared:  # each shared photo: kept once, refused once
        assert sorted(status for sent, status, _ in every if sent == data) == [201, 409]
    names = {f"px-{pixel_hash(decode_image(data))[:16]}.jpg" for data in lfw_faces}
    on_disk = [path.rsplit("/", 1)[1] for path in disk(data_dir) if path != ".people.lock"]
    assert sorted(on_disk) == sorted(names)  # every photo, once, and no temporary file left behind
    for _, status, body in every:
        if status == 409:
            existing = body["existing"]
            assert (data_dir / existing["person"] / existing["photo"]).is_file()


def keep_all(root, person: str, photos: list[bytes], start, results) -> None:
    """One process (a gunicorn worker, say) keeping photos straight into the store."""
    from service.people import DuplicatePhoto, PhotoStore

    store, outcomes = PhotoStore(root, 10**8), []
    start.wait()
    for data in photos:
        try:
            store.keep(person, data, pixel_hash(decode_image(data)), "jpg")
            outcomes.append("kept")
        except DuplicatePhoto:
            outcomes.append("duplicate")
    results.put(outcomes)


def test_two_processes_keeping_at_once_keep_each_photo_once(data_dir, lfw_faces, disk):
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    shared = lfw_faces[:SHARED]
    workers = [context.Process(target=keep_all, args=(data_dir, person, shared, start, results))
               for person in ("alice", "zoe")]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120), results.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=60)
    assert [sorted(pair) for pair in zip(*outcomes)] == [["duplicate", "kept"]] * SHARED
    assert len([path for path in disk(data_dir) if path != ".people.lock"]) == SHARED


def test_a_taken_name_is_refused_by_the_link_itself(data_dir, lfw_faces, disk):
    from service.people import DuplicatePhoto, _publish

    (data_dir / "alice").mkdir()
    (data_dir / "alice" / "px-0123456789abcdef.jpg").write_bytes(b"first")
    with pytest.raises(DuplicatePhoto):
        _publish(data_dir / "alice", "px-0123456789abcdef.jpg", lfw_faces[0], "alice")
    assert disk(data_dir) == {"alice/px-0123456789abcdef.jpg": b"first"}  # kept, and no temporary file
