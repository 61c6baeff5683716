"""The TFRecord format of face crops: the feature spec, the writer and the parser.

Each record is one face crop in colour (PNG-encoded RGB, `crop_size` square) with its label.
Files are `<dir>/<split>-<index>-of-<count>.tfrecord`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf



# Folder and file names are bytes on disk: a non-UTF-8 one round-trips through surrogate escapes.
NAMES = "surrogateescape"
# The feature spec: the one definition of keys, dtypes and shapes, for writer and reader.
FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),  # PNG, RGB uint8
    "image/label": tf.io.FixedLenFeature([], tf.int64),
    "image/class_name": tf.io.FixedLenFeature([], tf.string),
    "image/sha256": tf.io.FixedLenFeature([], tf.string),  # of the source file's bytes
    "image/pixel_sha256": tf.io.FixedLenFeature([], tf.string),  # of its decoded pixels
    "image/source": tf.io.FixedLenFeature([], tf.string),  # path relative to the data folder
    "image/box": tf.io.FixedLenFeature([4], tf.int64),  # x, y, width, height in the photo
}


@dataclass(frozen=True)
class FaceRecord:
    """One face crop and where it came from."""

    png: bytes
    label: int
    class_name: str
    sha256: str
    pixel_sha256: str
    source: str
    box: tuple[int, int, int, int]


def serialize(record: FaceRecord) -> bytes:
    """A tf.train.Example holding `record`, serialised."""

    def _bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _ints(values) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    feature = {
        "image/encoded": _bytes(record.png),
        "image/label": _ints([record.label]),
        "image/class_name": _bytes(record.class_name.encode(errors=NAMES)),
        "image/sha256": _bytes(record.sha256.encode()),
        "image/pixel_sha256": _bytes(record.pixel_sha256.encode()),
        "image/source": _bytes(record.source.encode(errors=NAMES)),
        "image/box": _ints(record.box),
    }
    assert set(feature) == set(FEATURES), "writer and feature spec disagree"
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parse one serialised example; `image` is the decoded RGB crop [S, S, 3] uint8."""
    features = tf.io.parse_single_example(serialized, FEATURES)
    features["image"] = tf.io.decode_png(features["image/encoded"], channels=3)
    return features


def shard_paths(directory: Path, split: str) -> list[Path]:
    """The shard files of one split, in order."""
    return sorted(Path(directory).glob(f"{split}-*-of-*.tfrecord"))


def write_split(directory: Path, split: str, records: list[FaceRecord], shard_size: int) -> list[Path]:
    """Write `records` into ceil(n / shard_size) shards (at least one) and return their paths."""
    count = max(1, -(-len(records) // shard_size))
    paths = [Path(directory) / f"{split}-{i:05d}-of-{count:05d}.tfrecord" for i in range(count)]
    for index, path in enumerate(paths):
        with tf.io.TFRecordWriter(str(path)) as writer:
            for record in records[index * shard_size : (index + 1) * shard_size]:
                writer.write(serialize(record))
    return paths


def read_split(directory: Path, split: str) -> list[dict]:
    """All records of a split as plain Python values (for tests, inspection and evaluation)."""
    paths = [str(p) for p in shard_paths(directory, split)]
    if not paths:
        return []
    dataset = tf.data.TFRecordDataset(paths).map(parse)
    return [
        {
            "image": example["image"].numpy(),
            "label": int(example["image/label"]),
            "class_name": example["image/class_name"].numpy().decode(errors=NAMES),
            "sha256": example["image/sha256"].numpy().decode(),
            "pixel_sha256": example["image/pixel_sha256"].numpy().decode(),
            "source": example["image/source"].numpy().decode(errors=NAMES),
            "box": tuple(int(v) for v in example["image/box"].numpy()),
        }
        for example in dataset
    ]
