// Requests to the service: the key each one carries, and every failure as one readable sentence.

// A refused request: `status` is the HTTP status (0 when the service could not be reached),
// `detail` the problem document's own explanation when it gave one.
export class ApiError extends Error {
  constructor(message, status, detail) {
    super(message);
    this.status = status;
    this.detail = detail || message;
  }
}

export function bearer(key) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// The response, whatever its status; only a failed connection throws.
export async function send(method, path, { body, key } = {}) {
  try {
    return await fetch(path, { method, body, headers: bearer(key) });
  } catch (error) {
    throw new ApiError("The service could not be reached; check the connection and try again.", 0);
  }
}

// The answer's JSON (null for an empty or non-JSON body), or an ApiError for any non-2xx status.
export async function call(method, path, options = {}) {
  const response = await send(method, path, options);
  const answer = await readJson(response);
  if (!response.ok) {
    throw refusal(response, answer);
  }
  return answer;
}

// The body as JSON, or null when it is something else (a proxy's HTML page, an empty body).
export async function readJson(response) {
  try {
    return await response.json();
  } catch (error) {
    return null;
  }
}

// "Title: detail" from a problem document; "Error 502 Bad Gateway: …" when there is none.
export function refusal(response, answer) {
  const title = answer && answer.title ? answer.title : `Error ${response.status} ${response.statusText}`.trim();
  const detail = answer && answer.detail ? answer.detail : "";
  return new ApiError(`${title}: ${detail || "the service gave no explanation"}`, response.status, detail);
}

// A path segment: names may hold spaces, accents or slashes.
export function segment(text) {
  return encodeURIComponent(text);
}
