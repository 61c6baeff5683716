// The admin key: asked for once, kept in sessionStorage, checked with the service. Every editing
// control carries class "edit" and stays hidden (style.css) unless <body data-editing="on">.
import { call } from "./api.js";

const STORED = "faceid.adminKey";
const MESSAGES = {
  none: "Adding or removing people and photos, corrections and retraining need an admin key: "
    + "enter it above. Until then those controls are hidden.",
  checking: "Checking the key…",
  on: "Editing on: the service accepted the key as an admin key and takes changes.",
  readonly: "This key may read the people but not change them (a predict key, not one of ADMIN_KEYS), "
    + "so the editing controls stay hidden.",
  off: "This service takes no changes (enrolment is off; ENROLMENT=on turns it on), so the editing controls stay hidden.",
};

const form = document.getElementById("admin-key");
const statusLine = document.getElementById("admin-status");
const predictKeyField = document.querySelector("#upload [name=apikey]");

export function adminKey() {
  return sessionStorage.getItem(STORED) || "";
}

// The key for reads and predictions: any valid key will do, the admin key included.
export function readKey() {
  return adminKey() || predictKeyField.value.trim();
}

export function predictKey() {
  return predictKeyField.value.trim() || adminKey();
}

function setEditing(state, text) {
  document.body.dataset.editing = state === "on" ? "on" : "off";
  statusLine.dataset.state = state;
  statusLine.textContent = text || MESSAGES[state];
  document.dispatchEvent(new CustomEvent("editing", { detail: state }));
}

// A 401 or 403 from the service: the key is not an admin key here (or enrolment is off).
export function refuse(error) {
  sessionStorage.removeItem(STORED);
  setEditing("refused", `The service refused this key (${error.detail}). The editing controls are hidden; `
    + "enter an admin key to change anything.");
}

// A write with the admin key; a 401/403 answer hides every editing control before it is rethrown.
export async function write(method, path, body) {
  try {
    return await call(method, path, { body, key: adminKey() });
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      refuse(error);
    }
    throw error;
  }
}

async function useKey(key) {
  if (!key) {
    sessionStorage.removeItem(STORED);
    setEditing("none");
    return;
  }
  setEditing("checking");
  try {
    const answer = await call("GET", "/v1/people", { key });
    sessionStorage.setItem(STORED, key);
    if (!answer || answer.enrolment !== true) {
      setEditing("off");
    } else {
      setEditing(answer.can_edit === true ? "on" : "readonly");
    }
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      refuse(error);
    } else {
      setEditing("unchecked", `The key could not be checked (${error.message}); the editing controls stay hidden.`);
    }
  }
}

export function startAdmin() {
  const field = form.elements.adminkey;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    useKey(field.value.trim());
  });
  document.getElementById("use-key").addEventListener("click", () => useKey(field.value.trim()));
  document.getElementById("forget-key").addEventListener("click", () => {
    field.value = "";
    useKey("");
  });
  field.value = adminKey();
  useKey(field.value);
}
