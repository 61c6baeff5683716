// The People view's list: each person's photo count, whether the served model knows them yet,
// how well it recognises them, their photos as thumbnails, and (with an admin key) removal.
import { call, send, refusal, segment } from "./api.js";
import { readKey, write } from "./admin.js";

const statusLine = document.getElementById("people-status");
const list = document.getElementById("people");
const names = document.getElementById("people-names");
let people = [];

function showStatus(text, state) {
  statusLine.textContent = text;
  statusLine.dataset.state = state;
}

// The names last listed (the "wrong?" form offers them).
export function knownNames() {
  return people.map((person) => person.name);
}

export async function loadPeople() {
  showStatus("Loading people…", "busy");
  try {
    const answer = await call("GET", "/v1/people", { key: readKey() });
    people = answer && Array.isArray(answer.people) ? answer.people : [];
  } catch (error) {
    showStatus(`The people could not be listed: ${error.message}`, "error");
    return people;
  }
  const count = people.length;
  showStatus(count === 0 ? "Nobody yet." : `${count} ${count === 1 ? "person" : "people"}.`, "done");
  names.replaceChildren(...people.map((person) => new Option(person.name)));
  list.replaceChildren(...people.map(personItem));
  return people;
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function button(className, text, onClick) {
  const node = element("button", className, text);
  node.type = "button";
  node.addEventListener("click", () => onClick(node));
  return node;
}

// "known", "known · enrolled after v4" (added without training after version 4), or "pending: …".
function standing(person) {
  if (!person.known) {
    return "pending: in the next version";
  }
  return person.enrolled_after_version == null ? "known" : `known · enrolled after v${person.enrolled_after_version}`;
}

function quality(person) {
  const q = person.quality;
  if (!q) {
    return "quality not measured";
  }
  const two = (value) => value.toFixed(2);
  return `F1 ${two(q.f1)} (precision ${two(q.precision)}, recall ${two(q.recall)}, ${q.support} test photos)`;
}

function personItem(person) {
  const item = element("li", "person");
  item.dataset.name = person.name;
  item.dataset.known = String(Boolean(person.known));
  const head = element("div", "person-head");
  const photos = `${person.photos} photo${person.photos === 1 ? "" : "s"}`;
  head.append(element("strong", "name", person.name), element("span", "count", photos),
    element("span", person.known ? "standing known" : "standing pending", standing(person)),
    element("span", "quality", quality(person)));
  if (person.photos > 0) {
    head.append(button("show", "Photos", (show) => toggleThumbnails(item, show)));
  }
  // A person only the served model knows has no folder here to remove (the API answers 404).
  if (person.photos > 0 || !person.known) {
    head.append(button("remove-person edit", "Remove person", () => removePerson(item, person)));
  }
  const result = element("span", "result");
  result.setAttribute("role", "status");
  item.append(head, result, element("div", "thumbs"));
  return item;
}

function showResult(item, text, outcome) {
  const result = item.querySelector(".result");
  result.textContent = text;
  result.dataset.outcome = outcome;
}

async function toggleThumbnails(item, button) {
  const open = item.dataset.open === "yes";
  item.dataset.open = open ? "no" : "yes";
  button.textContent = open ? "Photos" : "Hide photos";
  if (open) {
    clearThumbnails(item);
  } else {
    await showThumbnails(item);
  }
}

function clearThumbnails(item) {
  const box = item.querySelector(".thumbs");
  box.querySelectorAll("img").forEach((img) => URL.revokeObjectURL(img.src));
  box.replaceChildren();
}

// The person's photos, fetched with the key (an <img src> could not carry it).
export async function showThumbnails(item) {
  const name = item.dataset.name;
  try {
    const answer = await call("GET", `/v1/people/${segment(name)}`, { key: readKey() });
    const figures = await Promise.all((answer.photos || []).map((photo) => thumbnail(name, photo)));
    clearThumbnails(item);
    item.querySelector(".thumbs").replaceChildren(...figures);
  } catch (error) {
    showResult(item, `The photos could not be shown: ${error.message}`, "error");
  }
}

async function thumbnail(name, photo) {
  const figure = element("figure", "thumb");
  figure.dataset.id = photo.id;
  const path = `/v1/people/${segment(name)}/photos/${segment(photo.id)}`;
  const response = await send("GET", path, { key: readKey() });
  if (!response.ok) {
    throw refusal(response, null);
  }
  const img = document.createElement("img");
  img.src = URL.createObjectURL(await response.blob());
  img.alt = `${name}: ${photo.id}`;
  const remove = button("remove-photo edit", "Remove", () => removePhoto(name, photo.id, figure));
  figure.append(img, element("figcaption", "", photo.id), remove);
  return figure;
}

async function removePhoto(name, id, figure) {
  const item = figure.closest(".person");
  if (!window.confirm(`Remove this photo of ${name}? The next version forgets it.`)) {
    return;
  }
  try {
    await write("DELETE", `/v1/people/${segment(name)}/photos/${segment(id)}`);
  } catch (error) {
    showResult(item, `Not removed: ${error.message}`, "refused");
    return;
  }
  await refresh([name]);
  const again = list.querySelector(`.person[data-name="${CSS.escape(name)}"]`);
  if (again) {
    showResult(again, `Removed photo ${id}.`, "removed");
  }
}

async function removePerson(item, person) {
  if (!window.confirm(`Remove ${person.name} and all ${person.photos} of their photos? The next version forgets them.`)) {
    return;
  }
  try {
    await write("DELETE", `/v1/people/${segment(person.name)}`);
  } catch (error) {
    showResult(item, `Not removed: ${error.message}`, "refused");
    return;
  }
  await refresh([]);
  showStatus(`Removed ${person.name}. ${statusLine.textContent}`, "done");
}

// Reload the list, reopening the thumbnails of `open` (names) and of those open before.
export async function refresh(open) {
  const wanted = new Set([...open, ...[...list.querySelectorAll(".person[data-open=yes]")].map((i) => i.dataset.name)]);
  await loadPeople();
  for (const item of list.querySelectorAll(".person")) {
    if (wanted.has(item.dataset.name)) {
      const show = item.querySelector(".show");
      if (show) {
        item.dataset.open = "yes";
        show.textContent = "Hide photos";
        await showThumbnails(item);
      }
    }
  }
}
