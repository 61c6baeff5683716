// "wrong?" on a face line of an answer: say who the face really is (someone listed, a new name,
// or nobody I know); the photo and that face's box go to POST /v1/corrections.
import { write } from "./admin.js";
import { element, knownNames, loadPeople } from "./people.js";

function option(text, choice, value = text) {
  const item = new Option(text, value);
  item.dataset.choice = choice;
  return item;
}

// Add the "wrong?" button (shown only with an accepted admin key) to the face's line.
export function offerCorrection(item, face, file) {
  const button = element("button", "wrong edit", "wrong?");
  button.type = "button";
  const result = element("span", "correction-result");
  result.setAttribute("role", "status");
  button.addEventListener("click", () => openForm(item, face, file));
  item.append(" ", button, " ", result);
}

async function openForm(item, face, file) {
  if (item.querySelector("form.correction")) {
    return;
  }
  const form = element("form", "correction edit");
  const choice = element("select", "who");
  choice.name = "person";
  const newName = element("input", "new-name");
  newName.name = "newname";
  newName.placeholder = "their name";
  newName.hidden = true;
  const sendButton = element("button", "send", "Send");
  sendButton.type = "submit";
  const cancel = element("button", "cancel", "Cancel");
  cancel.type = "button";
  cancel.addEventListener("click", () => form.remove());
  choice.addEventListener("change", () => {
    newName.hidden = choice.selectedOptions[0].dataset.choice !== "new";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendCorrection(item, form, face, file);
  });
  form.append("This is ", choice, newName, sendButton, cancel);
  item.append(form);
  const names = knownNames().length ? knownNames() : (await loadPeople()).map((person) => person.name);
  choice.replaceChildren(...names.map((name) => option(name, "person")),
    option("nobody I know", "nobody", ""), option("someone new…", "new", ""));
}

// The name chosen: a listed person, the typed new name, or "" for nobody I know (null: none typed).
function chosenPerson(form) {
  const picked = form.elements.person.selectedOptions[0];
  if (!picked) {
    return null;
  }
  if (picked.dataset.choice === "new") {
    return form.elements.newname.value.trim() || null;
  }
  return picked.value;
}

async function sendCorrection(item, form, face, file) {
  const result = item.querySelector(".correction-result");
  const person = chosenPerson(form);
  if (person === null) {
    result.dataset.outcome = "error";
    result.textContent = "Type the person's name first.";
    return;
  }
  const body = new FormData();
  body.append("image", file);
  for (const side of ["x", "y", "width", "height"]) {
    body.append(side, String(face.box[side]));
  }
  body.append("person", person);
  result.dataset.outcome = "busy";
  result.textContent = "Sending…";
  try {
    await write("POST", "/v1/corrections", body);
  } catch (error) {
    result.dataset.outcome = "refused";
    result.textContent = `Correction not kept: ${error.message}`;
    return;
  }
  form.remove();
  result.dataset.outcome = "sent";
  result.textContent = person ? `Kept: this face is ${person} (the next version learns it).`
    : "Kept: this face is nobody I know (the next version keeps strangers like it out).";
}
