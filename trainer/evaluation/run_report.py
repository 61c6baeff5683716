"""RUN/report.html: what went in, how training went, what came out, the mistakes, and inside the
network; one self-contained page (docs/training.md, "The run report").

Written by every `trainer run` and `trainer evaluate` (--run, --model) from what evaluation left
in the folder (report.json, faces.npz, the PNG plots) and the records; the few network
pictures are computed here (Grad-CAM on `GRADCAM_PER_PERSON` faces per person at most).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from facecore.modelinfo import is_unknown
from facecore.preprocess import PreprocessSpec, model_input
from facecore.versions import REPORT_PAGE
from trainer.data import manifest as manifest_io
from trainer.data.contact_sheet import contact_sheet, sample_crops
from trainer.data.extract import USED
from trainer.data.pipeline import crops_dataset
from trainer.data.split import SPLITS
from trainer.evaluation import report_figures as figures
from trainer.evaluation import report_page as html
from trainer.evaluation.scoring import FACES_FILE, OPENSET_PLOT

GRADCAM_PER_PERSON = 1
GRADCAM_PEOPLE = 12
SHEET_PER_PERSON = 6
THUMB = 64


@dataclass
class Scored:
    """The faces evaluation scored, their crops in the same order, and the model's classes."""

    class_names: list[str]
    crops: list[np.ndarray]
    class_scores: np.ndarray  # [N, C]
    labels: np.ndarray  # [N], -1: a person the model does not know
    score: np.ndarray  # [N]
    threshold: np.ndarray  # [N]
    folder_names: list[str]  # the records' class names: whose face each crop is

    @property
    def named(self) -> np.ndarray:
        return self.class_scores.argmax(axis=1)

    @property
    def unknown(self) -> np.ndarray:
        return is_unknown(self.score, self.threshold)


def write_run_report(run_dir: Path, records: Path | None = None) -> Path:
    """RUN/report.html of an evaluated training run (its test split)."""
    import time

    from trainer.publishing.rundir import RunDir

    run = RunDir(run_dir)
    started = time.perf_counter()
    info = run.model_info()
    records = Path(records or run.read_json(run.dataset)["records_dir"])
    path = write_report(run.root, records, "test", list(info.class_names), info.preprocess,
                        keras.models.load_model(run.model), f"Run report: {run.root.name}")
    print(f"run report: {path} ({time.perf_counter() - started:.1f} s)")
    return path


def write_model_report(model_dir: Path, out_dir: Path) -> Path:
    """OUT/report.html of a published version scored on a photo folder (`evaluate --model`)."""
    from facecore.modelinfo import ModelInfo, MODEL_INFO_FILE

    info = ModelInfo.from_json((Path(model_dir) / "assets.extra" / MODEL_INFO_FILE).read_text())
    keras_file = Path(model_dir) / "model.keras"
    model = keras.models.load_model(keras_file) if keras_file.exists() else None
    return write_report(out_dir, Path(out_dir) / "records", SPLITS, list(info.class_names), info.preprocess,
                        model, f"Model report: {model_dir}")


def write_report(folder: Path, records: Path, splits, class_names: list[str], spec: PreprocessSpec,
                 model: keras.Model | None, title: str) -> Path:
    """FOLDER/report.html from FOLDER's evaluation and the records it scored (`splits`)."""
    folder = Path(folder)
    manifest = manifest_io.read(records)
    crops, folder_labels = _crops(records, splits)
    faces = np.load(folder / FACES_FILE)
    scored = Scored(class_names, crops, faces["class_scores"], faces["labels"], faces["score"], faces["threshold"],
                    manifest["class_names"])
    report = _read_json(folder / "report.json")
    sections = [_inputs(manifest, records), _training(folder, report, len(class_names)),
                _outcome(folder, report), _mistakes(scored, records)]
    if model is not None:
        sections.append(_inside(model, scored, spec))
    else:
        sections.append(html.section("inside", "Inside the network",
                                     [html.note("no Keras model beside this version (model.keras): nothing to show")]))
    path = folder / REPORT_PAGE
    path.write_text(html.page(title, f"{len(class_names)} people; {len(scored.labels)} faces scored.", sections))
    return path


def _read_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text()) if path.exists() else {}


def _crops(records: Path, splits) -> tuple[list[np.ndarray], np.ndarray]:
    """The RGB crops and record labels of `splits`, in the order evaluation scored them."""
    crops, labels = [], []
    for crop, label in crops_dataset(records, splits):
        crops.append(crop.numpy())
        labels.append(int(label))
    return crops, np.array(labels)


def _inputs(manifest: dict, records: Path) -> str:
    counts = manifest["counts"]
    totals = {name: sum(counts[s]["per_class"][name] for s in SPLITS) for name in manifest["class_names"]}
    largest = max(totals.values(), default=1)
    rows = [[html.text(name), *[counts[s]["per_class"][name] for s in SPLITS], total, html.bar(total, largest)]
            for name, total in sorted(totals.items(), key=lambda item: -item[1])]
    people = html.table(["person", *SPLITS, "total", ""], rows, raw=True)
    outcomes = html.table(["outcome", "photos"], [[k, v] for k, v in manifest["outcomes"].items()])
    skipped = [[f["source"], f["outcome"], f.get("reason", "")] for f in manifest["files"] if f["outcome"] != USED]
    splits = html.table(["split", "faces"], [[s, counts[s]["total"]] for s in SPLITS])
    from trainer.data.records import read_split

    sheet = contact_sheet(sample_crops(read_split(records, "train"), manifest["class_names"], SHEET_PER_PERSON), 48)
    return html.section("inputs", "What went in", [
        "<h3>Photos per person</h3>", people, "<h3>The manifest's accounting</h3>", outcomes,
        html.table(["photo", "outcome", "reason"], skipped) if skipped else html.note("every photo was kept"),
        *[html.note(w) for w in manifest.get("warnings", [])],
        "<h3>Split sizes</h3>", splits, "<h3>Contact sheet (training split)</h3>", html.image(sheet, "contact sheet")])


def _training(folder: Path, report: dict, classes: int) -> str:
    from trainer.evaluation.plots import read_history

    parts = []
    curves, history = folder / "curves.png", folder / "history.csv"
    if curves.exists():
        parts.append(html.image(curves, "learning curves"))
    else:
        parts.append(html.note("no training epochs: the person centres are mean descriptors of the training faces"))
    if history.exists():
        values = read_history(history)
        parts.append(_course_checks(values, classes, _read_json(folder / "config.json")))
    return html.section("training", "How training went", parts)


def _course_checks(history: dict, classes: int, config: dict) -> str:
    """The course's sanity checks, from the history: the loss of the first epoch against chance,
    and how far the training accuracy went (a network that can learn fits its training faces)."""
    model = config.get("model", {})
    chance = math.log(classes)
    rows = [["ln(number of classes)", f"{chance:.3f}"]]
    if model.get("head") == "cosine":
        s, m = model.get("cosine_scale", 30.0), model.get("cosine_margin", 0.35)
        chance_loss = s * m + math.log(classes - 1 + math.exp(-s * m))
        rows.append(["chance loss of the cosine head (all similarities 0)", f"{chance_loss:.3f}"])
    loss, accuracy = history.get("loss", []), history.get("accuracy", [])
    if loss:
        rows.append(["training loss, first epoch (mean over it)", f"{loss[0]:.3f}"])
        rows.append(["training loss, last epoch", f"{loss[-1]:.3f}"])
    if accuracy:
        best = int(np.argmax(accuracy))
        rows.append(["best training accuracy (epoch)", f"{accuracy[best]:.3f} ({best + 1})"])
    return "<h3>Checks</h3>" + html.table(["check", "value"], rows)


def _outcome(folder: Path, report: dict) -> str:
    parts = []
    if (folder / "confusion.png").exists():
        parts.append(html.image(folder / "confusion.png", "confusion matrix"))
    per_class = report.get("per_class", {})
    rows = sorted(per_class.items(), key=lambda item: (item[1]["f1"], item[0]))
    parts.append("<h3>Per person, worst first</h3>" + html.table(
        ["person", "precision", "recall", "F1", "test faces"],
        [[name, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", v["support"]] for name, v in rows]))
    if "macro_f1" in report:
        parts.append(html.note(f"accuracy {report.get('accuracy', 0):.3f}, macro F1 {report['macro_f1']:.3f}"))
    if (folder / OPENSET_PLOT).exists():
        openset = report.get("openset", {})
        parts.append("<h3>Unknown faces</h3>" + html.image(folder / OPENSET_PLOT, "open-set curve"))
        parts.append(html.note(f"chosen: {openset.get('rule', '')}; accepts {openset.get('known_accept', 0):.3f} "
                               f"of validation faces named right; threshold {report.get('unknown_threshold', 0):.4f}"))
    return html.section("outcome", "What came out", parts)


def _mistakes(scored: Scored, records: Path) -> str:
    """Every misnamed or wrongly rejected known face beside a face of whom it was taken for."""
    examples = _examples(scored)
    known = scored.labels >= 0
    wrong = known & ((scored.named != scored.labels) | scored.unknown)
    figures_html = []
    for index in np.flatnonzero(wrong):
        taken = scored.class_names[scored.named[index]]
        truth = scored.class_names[scored.labels[index]]
        verdict = f"rejected (nearest {taken})" if scored.unknown[index] else f"named {taken}"
        pair = figures.tile([scored.crops[index], examples.get(taken, scored.crops[index])], 2, THUMB)
        figures_html.append(html.figure(pair, f"{truth}: {verdict}, score {scored.score[index]:.3f} "
                                              f"(threshold {scored.threshold[index]:.3f})"))
    summary = html.note(f"{int(wrong.sum())} of {int(known.sum())} known faces misnamed or wrongly rejected; "
                        "each: the face, then a training face of the person it was taken for")
    return html.section("mistakes", "The mistakes", [summary, *figures_html])


def _examples(scored: Scored) -> dict[str, np.ndarray]:
    """A face of each person to set beside mistakes: their first face the model names right."""
    examples = {}
    for index in np.flatnonzero((scored.labels >= 0) & (scored.named == scored.labels)):
        examples.setdefault(scored.class_names[scored.labels[index]], scored.crops[index])
    return examples


def _inside(model: keras.Model, scored: Scored, spec: PreprocessSpec) -> str:
    parts = []
    filters = figures.first_filters(model)
    if filters is not None:
        parts += ["<h3>First-layer filters</h3>", html.note(filters[0]), html.image(filters[1], "filters")]
    chosen = _gradcam_faces(scored)
    if chosen:
        sample = model_input(scored.crops[chosen[0]], spec)
        parts.append("<h3>Activation maps of each stage (one face, its most active channels)</h3>")
        parts += [html.figure(picture, name) for name, picture in figures.activation_maps(model, sample)]
        inputs = np.stack([model_input(scored.crops[i], spec) for i in chosen])
        overlays = figures.gradcam_overlays(model, inputs, [scored.crops[i] for i in chosen])
        parts.append("<h3>Grad-CAM: where it looked for the person it named</h3>")
        parts += [html.figure(picture, f"{scored.class_names[scored.labels[i]]}, named "
                                       f"{scored.class_names[scored.named[i]]}")
                  for i, picture in zip(chosen, overlays)]
    return html.section("inside", "Inside the network", parts)


def _gradcam_faces(scored: Scored) -> list[int]:
    """A few known faces per person (GRADCAM_PER_PERSON, for at most GRADCAM_PEOPLE people)."""
    chosen, per_person = [], {}
    for index in np.flatnonzero(scored.labels >= 0):
        person = int(scored.labels[index])
        room = person in per_person or len(per_person) < GRADCAM_PEOPLE
        if room and per_person.get(person, 0) < GRADCAM_PER_PERSON:
            per_person[person] = per_person.get(person, 0) + 1
            chosen.append(int(index))
    return chosen
