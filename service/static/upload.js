// Adding photos: dropped or chosen files, one POST each, and one result line per file (added, or
// the service's reason for refusing it); nothing is dropped silently.
import { segment } from "./api.js";
import { write } from "./admin.js";
import { refresh } from "./people.js";

const nameField = document.querySelector("#add [name=person]");
const fileInput = document.querySelector("#add [name=photos]");
const dropZone = document.getElementById("drop");
const results = document.getElementById("add-results");
const people = document.getElementById("people");

function resultLine(file) {
  const line = document.createElement("li");
  line.dataset.file = file.name;
  const name = document.createElement("span");
  name.className = "file";
  name.textContent = file.name;
  const outcome = document.createElement("span");
  outcome.className = "outcome";
  line.append(name, outcome);
  return line;
}

function mark(line, text, outcome) {
  line.dataset.outcome = outcome;
  line.querySelector(".outcome").textContent = text;
}

async function addOne(name, file, line) {
  const body = new FormData();
  body.append("image", file);
  const answer = await write("POST", `/v1/people/${segment(name)}/photos`, body);
  const id = answer && answer.photo ? answer.photo.id : "?";
  mark(line, `added to ${answer && answer.person ? answer.person : name} as ${id}`, "added");
}

// One request per file, in order; after a refused key or a lost connection the rest are
// listed as not sent, with the reason.
export async function addPhotos(name, files) {
  const person = name.trim();
  const lines = files.map(resultLine);
  results.replaceChildren(...lines);
  if (!person) {
    lines.forEach((line) => mark(line, "not sent: enter the person's name first", "not-sent"));
    return;
  }
  let stopped = null;
  for (const [index, file] of files.entries()) {
    const line = lines[index];
    if (stopped) {
      mark(line, `not sent: ${stopped}`, "not-sent");
      continue;
    }
    mark(line, "sending…", "busy");
    try {
      await addOne(person, file, line);
    } catch (error) {
      mark(line, `refused: ${error.message}`, "refused");
      stopped = [0, 401, 403].includes(error.status) ? error.message : null;
    }
  }
  await refresh([person]);
}

function filesOf(event) {
  return event.dataTransfer ? [...event.dataTransfer.files] : [];
}

function acceptDrops(target, nameOf) {
  target.addEventListener("dragover", (event) => {
    if (document.body.dataset.editing === "on" && nameOf(event) !== null) {
      event.preventDefault();
      target.dataset.over = "yes";
    }
  });
  target.addEventListener("dragleave", () => { target.dataset.over = "no"; });
  target.addEventListener("drop", (event) => {
    event.preventDefault();
    target.dataset.over = "no";
    const name = nameOf(event);
    if (document.body.dataset.editing === "on" && name !== null) {
      addPhotos(name, filesOf(event));
    }
  });
}

export function startUpload() {
  acceptDrops(dropZone, () => nameField.value);
  // A drop on a person in the list adds to that person.
  acceptDrops(people, (event) => {
    const item = event.target.closest && event.target.closest(".person");
    return item ? item.dataset.name : null;
  });
  fileInput.addEventListener("change", async () => {
    const files = [...fileInput.files];
    fileInput.value = "";
    await addPhotos(nameField.value, files);
  });
  // A photo dropped anywhere else must not replace the page with the photo.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}
