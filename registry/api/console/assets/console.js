// The API console: sends GraphQL operations to this registry with the token and purpose typed in.
//
// The token is held only in the token field of this page, in memory: not in localStorage nor
// sessionStorage (browsers write session storage to disk to restore tabs, and any later script of
// the origin could read it), never in a URL. Reloading or closing the page forgets it.
// Answers are shown with textContent only: data from the registry is never parsed as HTML.
"use strict";

(() => {
  // The page is served at the GraphQL endpoint itself (GET /graphql), so it posts where it came from.
  const ENDPOINT = window.location.pathname;
  const EXAMPLES_URL = "console/examples.json";
  // HTTP headers carry Latin-1 only: fetch refuses anything else, such as most Vietnamese letters.
  const LATIN_1_TEXT = /^[\x20-\x7e\xa0-\xff]*$/;
  const TOKEN_TEXT = /^[\x21-\x7e]*$/;

  const MEANING_OF_STATUS = {
    400: "the request was refused: invalid JSON, GraphQL syntax or validation, or over a limit",
    401: "no token, or a token that is unknown, revoked or expired",
    403: "this token's role may not do that",
    404: "not found",
    413: "the request is larger than the registry accepts",
    500: "the registry failed; give the request id to its operators",
    502: "a proxy in front of the registry could not reach it",
    503: "the registry is unavailable (starting, stopping or overloaded)",
    504: "a proxy in front of the registry gave up waiting for it",
  };

  const $ = (id) => document.getElementById(id);
  const form = $("console");
  const token = $("token");
  const purpose = $("purpose");
  const example = $("example");
  const query = $("query");
  const variables = $("variables");
  const variablesProblem = $("variables-problem");
  const run = $("run");
  const status = $("status");
  const errors = $("errors");
  const result = $("result");

  let examples = [];

  function showStatus(text, failed) {
    status.textContent = text;
    status.classList.toggle("failed", failed);
  }

  function showVariablesProblem(text) {
    variablesProblem.textContent = text;
    variablesProblem.hidden = !text;
    variables.setAttribute("aria-invalid", text ? "true" : "false");
  }

  function clearOutput() {
    showStatus("", false);
    errors.replaceChildren();
    errors.hidden = true;
    result.textContent = "";
  }

  // The variables as an object, or null after saying what is wrong with them.
  function parsedVariables() {
    const text = variables.value.trim();
    if (text === "") {
      showVariablesProblem("");
      return {};
    }
    let value;
    try {
      value = JSON.parse(text);
    } catch (problem) {
      showVariablesProblem(`Variables are not valid JSON: ${problem.message}`);
      return null;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      showVariablesProblem('Variables must be a JSON object, such as {"id": "1"}.');
      return null;
    }
    showVariablesProblem("");
    return value;
  }

  function errorItem(error) {
    const item = document.createElement("li");
    const code = (error.extensions && error.extensions.code) || error.code;
    if (code) {
      const label = document.createElement("span");
      label.className = "error-code";
      label.textContent = code;
      item.append(label);
    }
    item.append(document.createTextNode(error.message || "(no message)"));
    if (Array.isArray(error.path) && error.path.length > 0) {
      const where = document.createElement("span");
      where.className = "error-path";
      where.textContent = `at ${error.path.join(".")}`;
      item.append(where);
    }
    return item;
  }

  // GraphQL errors ({errors: [...]}) and the plain HTTP refusals of the API ({code, message}).
  function showErrors(answer) {
    const list = Array.isArray(answer.errors) ? answer.errors : answer.code ? [answer] : [];
    errors.replaceChildren(...list.map(errorItem));
    errors.hidden = list.length === 0;
    return list.length;
  }

  function describe(response, milliseconds, errorCount) {
    const parts = [`HTTP ${response.status}`];
    const meaning = MEANING_OF_STATUS[response.status];
    if (!response.ok && meaning) parts[0] += `: ${meaning}`;
    if (errorCount > 0) parts.push(`${errorCount} error${errorCount === 1 ? "" : "s"}`);
    parts.push(`${Math.round(milliseconds)} ms`);
    const requestId = response.headers.get("x-request-id");
    if (requestId) parts.push(`request id ${requestId}`);
    return parts.join(" · ");
  }

  function headersFor(stated) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const secret = token.value.trim();
    if (secret) headers.Authorization = `Bearer ${secret}`;
    if (stated) headers["X-Purpose"] = stated;
    return headers;
  }

  async function runOperation() {
    if (run.disabled) return; // Ctrl+Enter while an operation is running
    clearOutput();
    const values = parsedVariables();
    if (values === null) {
      variables.focus();
      return;
    }
    if (!TOKEN_TEXT.test(token.value.trim())) {
      showStatus("The token has spaces or characters a token never has: paste the prv_… string alone.", true);
      token.focus();
      return;
    }
    const stated = purpose.value.trim();
    if (!LATIN_1_TEXT.test(stated)) {
      showStatus(
        "The purpose travels in an HTTP header, which carries Latin-1 only: write it without " +
          "Vietnamese diacritics, or pass it as the query's purpose argument.",
        true,
      );
      purpose.focus();
      return;
    }
    const body = JSON.stringify({ query: query.value, variables: values });
    run.disabled = true;
    showStatus("Running…", false);
    const started = performance.now();
    let response;
    let text;
    try {
      response = await fetch(ENDPOINT, {
        method: "POST",
        headers: headersFor(stated),
        body,
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
      });
      text = await response.text();
    } catch (failure) {
      showStatus(
        `Could not reach the registry (${failure.message}): is the server running and the network up?`,
        true,
      );
      return;
    } finally {
      run.disabled = false;
    }
    const milliseconds = performance.now() - started;
    let answer;
    try {
      answer = JSON.parse(text);
    } catch {
      const type = response.headers.get("content-type") || "no content type";
      showStatus(
        `${describe(response, milliseconds, 0)} · the answer is not JSON (${type}): ` +
          "is something other than the registry answering at this address?",
        true,
      );
      result.textContent = text.slice(0, 2000);
      return;
    }
    const errorCount = answer && typeof answer === "object" ? showErrors(answer) : 0;
    showStatus(describe(response, milliseconds, errorCount), !response.ok || errorCount > 0);
    result.textContent = JSON.stringify(answer, null, 2);
  }

  function chooseExample() {
    const chosen = examples[Number(example.value)];
    if (!chosen) return;
    query.value = chosen.query.join("\n");
    variables.value = JSON.stringify(chosen.variables, null, 2);
    showVariablesProblem("");
    clearOutput();
  }

  async function loadExamples() {
    try {
      const response = await fetch(EXAMPLES_URL, { credentials: "omit" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      examples = await response.json();
    } catch (failure) {
      showStatus(`The examples could not be loaded (${failure.message}); queries can still be written.`, true);
      return;
    }
    example.append(
      ...examples.map((each, index) => {
        const option = document.createElement("option");
        option.value = String(index);
        option.textContent = each.title;
        return option;
      }),
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    runOperation();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  example.addEventListener("change", chooseExample);
  variables.addEventListener("input", () => showVariablesProblem(""));
  loadExamples();
})();
