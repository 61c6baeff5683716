// The page: identify a photo's faces through /v1/predict and draw the answer's boxes and names on
// a canvas; the People view and the editing controls live in the modules imported here.
import { call, segment } from "./api.js";
import { predictKey, startAdmin } from "./admin.js";
import { offerCorrection } from "./corrections.js";
import { drawHeatmaps } from "./heatmaps.js";
import { refresh } from "./people.js";
import { startPolling, startTrainer, stopPolling } from "./trainer.js";
import { startUpload } from "./upload.js";
import { startViews } from "./views.js";

const KNOWN_COLOUR = "#16a34a";
const UNKNOWN_COLOUR = "#d97706";

const form = document.getElementById("upload");
const statusLine = document.getElementById("status");
const canvas = document.getElementById("photo");
const faceList = document.getElementById("faces");

function showStatus(text, state) {
  statusLine.textContent = text;
  statusLine.dataset.state = state;
}

async function identify(file) {
  const body = new FormData();
  body.append("image", file);
  if (form.elements.explain.checked) {
    body.append("explain", "true");
  }
  const answer = await call("POST", "/v1/predict", { body, key: predictKey() });
  if (!answer || !Array.isArray(answer.faces)) {
    throw new Error("Unexpected answer from the service: no list of faces in it.");
  }
  return answer;
}

function drawPhoto(bitmap) {
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
}

// The box and its label, numbered as the face's line in the list below the photo ("2. bob 87%").
function drawFace(context, face, number, lineWidth, placed) {
  const { x, y, width, height } = face.box;
  const colour = face.unknown ? UNKNOWN_COLOUR : KNOWN_COLOUR;
  context.strokeStyle = colour;
  context.lineWidth = lineWidth;
  context.strokeRect(x, y, width, height);
  const fontSize = Math.max(12, Math.round(lineWidth * 6));
  context.font = `${fontSize}px system-ui, sans-serif`;
  const text = `${number}. ${faceText(face)}`;
  const size = { width: context.measureText(text).width + lineWidth * 2, height: fontSize + lineWidth };
  const label = placeLabel(face.box, size, placed);
  placed.push({ ...label, text });
  context.fillStyle = colour;
  context.fillRect(label.x, label.y, label.width, label.height);
  context.fillStyle = "#ffffff";
  context.textBaseline = "top";
  context.fillText(text, label.x + lineWidth, label.y + lineWidth / 2);
}

// "name 87%", or for an unknown face "unknown (nearest name 41%)".
function faceText(face) {
  const percent = (value) => `${Math.round(value * 100)}%`;
  if (!face.unknown) {
    return `${face.label} ${percent(face.probability)}`;
  }
  const nearest = face.top_k && face.top_k.length ? face.top_k[0] : null;
  return nearest ? `${face.label} (${nearest.label}?)` : face.label;
}

function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

// Where a face's label goes: above its box, else below it, else the nearest free row that
// keeps it on the canvas; never over a label already drawn (faces in a group photo are close).
function placeLabel(box, size, placed) {
  const x = Math.max(0, Math.min(box.x, canvas.width - size.width));
  const fits = (top) => top >= 0 && top + size.height <= canvas.height;
  const free = (top) => !placed.some((other) => overlaps(other, { x, y: top, ...size }));
  const preferred = [box.y - size.height, box.y + box.height, box.y];
  const rows = Math.ceil(canvas.height / size.height);
  const others = [];
  for (let step = 1; step <= rows; step += 1) {
    others.push(box.y - size.height * (step + 1), box.y + box.height + size.height * step);
  }
  const top = [...preferred, ...others].find((candidate) => fits(candidate) && free(candidate));
  const fallback = Math.max(0, Math.min(box.y - size.height, canvas.height - size.height));
  return { x, y: top === undefined ? fallback : top, ...size };
}

function drawFaces(faces) {
  const context = canvas.getContext("2d");
  const lineWidth = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
  const placed = [];
  faces.forEach((face, index) => drawFace(context, face, index + 1, lineWidth, placed));
  canvas.dataset.faces = String(faces.length);
  canvas.dataset.labels = JSON.stringify(placed);
}

// One numbered line per face, in the answer's order (the boxes carry the same numbers). An unknown
// face shows the threshold its own score was compared with, not the model's pooled one. Each line
// offers "wrong?" (with an admin key) to correct that face.
function listFaces(faces, file) {
  faceList.replaceChildren(...faces.map((face) => {
    const item = document.createElement("li");
    const shown = (s) => `${s.label} ${(s.probability * 100).toFixed(1)}%`;
    if (face.unknown) {
      const nearest = face.top_k.length ? ` · nearest known: ${face.top_k.map(shown).join(", ")}` : "";
      const decided = `score ${face.score.toFixed(3)} below threshold ${face.threshold.toFixed(3)}`;
      item.textContent = `unknown (${decided})${nearest}`;
    } else {
      const others = face.top_k.slice(1).map(shown).join(", ");
      item.textContent = `${face.label} (${(face.probability * 100).toFixed(1)}%)` + (others ? ` · then ${others}` : "");
    }
    item.className = face.unknown ? "unknown" : "";
    offerCorrection(item, face, file);
    return item;
  }));
}

function summary(answer) {
  const count = answer.faces.length;
  const what = count === 0 ? "No face found" : `${count} face${count === 1 ? "" : "s"} found`;
  return `${what} · model ${answer.model.name} v${answer.model.version} · ${Math.round(answer.timings_ms.total)} ms`;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = form.elements.image.files[0];
  if (!file) {
    showStatus("Choose a photo first.", "error");
    return;
  }
  showStatus("Identifying…", "busy");
  faceList.replaceChildren();
  canvas.dataset.faces = "";
  try {
    // Decode locally while the service works; the service's error, if any, is the one to show.
    const decoding = createImageBitmap(file, { imageOrientation: "from-image" }).catch(() => null);
    const answer = await identify(file);
    const bitmap = await decoding;
    if (!bitmap) {
      throw new Error("This browser cannot display the photo.");
    }
    drawPhoto(bitmap);
    canvas.dataset.heatmaps = String(await drawHeatmaps(canvas.getContext("2d"), answer.faces));
    drawFaces(answer.faces);
    showReport(answer.model);
    listFaces(answer.faces, file);
    showStatus(summary(answer), "done");
  } catch (error) {
    showStatus(error.message || String(error), "error");
  }
});

// The link to the run report of the version that answered (or, before any answer, the serving one).
function showReport(model) {
  const link = document.getElementById("report-link");
  link.href = `/v1/models/${segment(model.name)}/report?version=${model.version}`;
  document.getElementById("report-item").hidden = false;
}

call("GET", "/v1/models", { key: predictKey() })
  .then((answer) => answer && answer.models && answer.models.length && showReport(answer.models[0]))
  .catch(() => {});  // no model (yet), or a key needed: the link appears with the first answer

function peopleChanged() {
  refresh([]);
}

function showPeople() {
  refresh([]);
  startPolling(peopleChanged);
}

const peopleView = document.getElementById("people-view");
startTrainer(peopleChanged);
startUpload();
startAdmin();
startViews((view) => (view === "people-view" ? showPeople() : stopPolling()));
// A key given or forgotten: read the list and the trainer again with it.
document.addEventListener("editing", (event) => {
  if (["on", "off", "readonly", "none"].includes(event.detail) && !peopleView.hidden) {
    showPeople();
  }
});
