// The trainer's status (polled while the People view is open) and the "Retrain now" button.
import { call } from "./api.js";
import { readKey, write } from "./admin.js";

const POLL_MS = 3000;
const stateLine = document.getElementById("trainer-state");
const progressBar = document.getElementById("trainer-progress");
const lastLine = document.getElementById("trainer-last");
const retrainResult = document.getElementById("retrain-result");
let timer = null;
let lastFinished;

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}

function showState(status) {
  stateLine.dataset.state = status.state;
  const progress = status.state === "running" ? status.progress : null;
  progressBar.hidden = !progress;
  if (status.state === "idle") {
    stateLine.textContent = "Idle.";
  } else if (status.state === "running") {
    const since = status.since ? ` since ${clock(status.since)}` : "";
    const step = progress ? ` · ${progress.stage} ${progress.done}/${progress.total}` : "";
    stateLine.textContent = `Running ${status.job || "a job"}${since}${step}`;
  } else {
    stateLine.textContent = `Unknown: ${status.reason || "the trainer has not reported its status yet"}.`;
  }
  if (progress) {
    progressBar.max = Math.max(progress.total, 1);
    progressBar.value = progress.done;
  }
}

// "Last: update published version 4 at 12:03:10" (with the reason when it gave one).
function showLast(last) {
  if (!last) {
    lastLine.textContent = "No finished run yet.";
    return;
  }
  const version = last.version == null ? "" : ` version ${last.version}`;
  const reason = last.reason ? `: ${last.reason}` : "";
  lastLine.textContent = `Last: ${last.job} ${last.outcome}${version} at ${clock(last.finished_at)}${reason}`;
  lastLine.dataset.outcome = last.outcome;
}

// The trainer's status; calls `changed` when a run has finished since the last check.
async function check(changed) {
  let status;
  try {
    status = await call("GET", "/v1/trainer", { key: readKey() });
  } catch (error) {
    stateLine.dataset.state = "error";
    stateLine.textContent = `The trainer's status is unavailable: ${error.message}`;
    return;
  }
  showState(status);
  showLast(status.last);
  const finished = status.last ? status.last.finished_at : null;
  if (lastFinished !== undefined && finished !== lastFinished) {
    changed();
  }
  lastFinished = finished;
}

export function startPolling(changed) {
  stopPolling();
  check(changed);
  timer = window.setInterval(() => check(changed), POLL_MS);
}

export function stopPolling() {
  window.clearInterval(timer);
  timer = null;
}

export function startTrainer(changed) {
  document.getElementById("retrain").addEventListener("click", async () => {
    retrainResult.dataset.outcome = "busy";
    retrainResult.textContent = "Asking for a retrain…";
    try {
      await write("POST", "/v1/trainer/retrain");
      retrainResult.dataset.outcome = "requested";
      retrainResult.textContent = "Retrain requested: the trainer starts it at its next check.";
    } catch (error) {
      retrainResult.dataset.outcome = "refused";
      retrainResult.textContent = `No retrain: ${error.message}`;
    }
    if (timer !== null) {
      check(changed);
    }
  });
}
