"""Where enrolled people's photos are kept, and the folder `trainer run` then trains on."""

from __future__ import annotations

from facecore.datafolder import set_aside
from trainer.data.enrolled import keep_photos, training_folder
from trainer.data.listing import scan


def write(path, data=b"jpeg"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_without_enrolled_people_training_reads_the_data_folder_itself(tmp_path):
    write(tmp_path / "data" / "ann" / "1.jpg")
    assert training_folder(tmp_path / "data", tmp_path / "work") == tmp_path / "data"


def test_enrolled_people_join_the_data_folders_people(tmp_path):
    data, work = tmp_path / "data", tmp_path / "work"
    write(data / "ann" / "1.jpg", b"a1")
    write(data / "bo" / "1.jpg", b"b1")
    write(data / ".incoming" / "cy" / "x.jpg")  # hidden: never a person
    keep_photos([str(write(tmp_path / "in" / "1.jpg", b"c1")), str(write(tmp_path / "in" / "2.jpg", b"c2"))],
                work / "enrolled" / "cy")
    keep_photos([str(write(tmp_path / "more" / "1.jpg", b"b2"))], work / "enrolled" / "bo")  # more of bo
    folder = training_folder(data, work)
    listing = scan(folder)
    found = sorted((item.person, item.source, item.path.read_bytes()) for item in listing.files)
    assert found == [("ann", "ann/1.jpg", b"a1"), ("bo", "bo/1.jpg", b"b1"), ("bo", "bo/enrolled-1.jpg", b"b2"),
                     ("cy", "cy/enrolled-1.jpg", b"c1"), ("cy", "cy/enrolled-2.jpg", b"c2")]
    # rebuilt each run: a person set aside is gone the next time
    set_aside(work / "enrolled" / "cy")
    assert sorted({item.person for item in scan(training_folder(data, work)).files}) == ["ann", "bo"]


def test_kept_photos_never_overwrite_and_leave_no_partial_files(tmp_path):
    target = tmp_path / "kept"
    first = keep_photos([str(write(tmp_path / "a" / "1.jpg", b"one"))], target)
    second = keep_photos([str(write(tmp_path / "b" / "1.jpg", b"two"))], target)
    assert first[0].read_bytes() == b"one" and second[0].read_bytes() == b"two" and first != second
    assert sorted(p.name for p in target.iterdir() if p.name.startswith(".")) == []

