// tchat's admin page (/admin): the admin password, then the live
// connections, the accounts and the server's recent log lines.
//
// It speaks the chat's own JSON protocol on the same WebSocket (/ws) as the
// chat page: {"action": "admin", "password": …} before logging in, after
// which this connection, which never takes a chat name, may use the admin
// actions (connections, log, accounts, account_create, account_reset,
// account_delete, kill). Every answer carries the request's id as "re".
//
// The password is kept in this tab's memory only (never in storage, never
// in the address), so that the page can prove it again by itself when the
// connection drops or the server restarts. Reloading the page or "Log out"
// forgets it.
//
// Everything the server sends is put in the page with textContent (view.el),
// never as HTML.

import { Backoff, Connection, socketURL } from "./connection.js";
import { el, fold } from "./view.js";

// How often the connections and the log are asked for again. Neither is
// logged by the server; the accounts are (an admin listed them), so they are
// asked for only when the page opens, after a change, and on Refresh.
const REFRESH_SECONDS = 3;
const LOG_LINES = 100;

const $ = (id) => document.getElementById(id);
const ui = {
  announcer: $("announcer"), status: $("status"), statusText: $("status-text"), statusAction: $("status-action"),
  login: $("login"), loginForm: $("login-form"), loginPassword: $("login-password"), loginError: $("login-error"),
  loginButton: $("login-button"),
  dashboard: $("dashboard"), usersOnline: $("users-online"), connectionCount: $("connection-count"), uptime: $("uptime"),
  refresh: $("refresh"), logout: $("logout"), refreshError: $("refresh-error"), updated: $("updated"),
  connectionRows: $("connection-rows"), killResult: $("kill-result"),
  createForm: $("create-form"), createName: $("create-name"), createPassword: $("create-password"),
  createError: $("create-error"), accountsResult: $("accounts-result"), accountsError: $("accounts-error"),
  accountRows: $("account-rows"), accountsEmpty: $("accounts-empty"),
  log: $("log"),
  killDialog: $("kill-dialog"), killForm: $("kill-form"), killUser: $("kill-user"), killReason: $("kill-reason"),
  killError: $("kill-error"),
  resetDialog: $("reset-dialog"), resetForm: $("reset-form"), resetUser: $("reset-user"),
  resetPassword: $("reset-password"), resetError: $("reset-error"),
  deleteDialog: $("delete-dialog"), deleteForm: $("delete-form"), deleteUser: $("delete-user"), deleteError: $("delete-error"),
};

const state = {
  conn: null,
  password: null, // in memory only, once the server accepted it
  admin: false, // this connection proved the password
  loggedOut: true, // no password to come back with: show the form
  pending: new Map(), // request id -> function(answer)
  waiting: new Set(), // "connections", "log": asked and not yet answered
  connections: [], // the last answer's list
  accounts: [],
  backoff: new Backoff(),
  retryTimer: null,
  countdownTimer: null,
  refreshTimer: null,
  lastBye: null,
  killing: null, // the user the open dialog is about
  resetting: null,
  deleting: null,
};

const live = () => Boolean(state.admin && state.conn && state.conn.open);

// -- formatting -------------------------------------------------------------

function pad(n) {
  return String(n).padStart(2, "0");
}

// "45 s", "12 min", "3 h 04 min", "2 d 5 h".
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${pad(m % 60)} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

// A moment as a <time>: "14:03:07" today, "12 Nov 2026, 14:03" before; "never" for null.
function moment(ts, { seconds = false } = {}) {
  if (typeof ts !== "number") return el("span", "muted", "never");
  const when = new Date(ts * 1000);
  const today = new Date();
  const sameDay = when.toDateString() === today.toDateString();
  const hms = `${pad(when.getHours())}:${pad(when.getMinutes())}${seconds ? `:${pad(when.getSeconds())}` : ""}`;
  const text = sameDay
    ? hms
    : `${when.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" })}, ${hms}`;
  const time = el("time", null, text);
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString();
  return time;
}

function tag(text, kind, title) {
  const span = el("span", `tag ${kind}`, text);
  if (title) span.title = title;
  return span;
}

// A table cell, labelled for the phone layout (style: td::before).
function cell(label, ...content) {
  const td = el("td");
  td.dataset.label = label;
  td.append(...content);
  return td;
}

function button(text, kind, data) {
  const b = el("button", kind, text);
  b.type = "button";
  Object.assign(b.dataset, data);
  return b;
}

// -- the connection -----------------------------------------------------------

function announce(text) {
  ui.announcer.textContent = text;
}

function setStatus(text, look, { action = false } = {}) {
  ui.status.hidden = !text;
  ui.statusText.textContent = text || "";
  ui.status.dataset.look = look || "";
  ui.statusAction.hidden = !action;
}

function request(action, fields, onAnswer) {
  if (!state.conn) return null;
  const id = state.conn.send({ action, ...fields });
  if (id === null) return null;
  state.pending.set(id, onAnswer);
  return id;
}

function connect(password) {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  if (state.conn) state.conn.close();
  state.pending.clear();
  state.waiting.clear();
  state.admin = false;
  state.lastBye = null;
  const conn = new Connection(socketURL(window.location), {
    onOpen: () => request("admin", { password }, (answer) => proved(answer, password)),
    onEvent: (event) => {
      if (conn === state.conn) onEvent(event);
    },
    onClose: () => {
      if (conn === state.conn) lost();
    },
  });
  state.conn = conn;
}

function onEvent(event) {
  if (event.re !== undefined && state.pending.has(event.re)) {
    const handler = state.pending.get(event.re);
    state.pending.delete(event.re);
    handler(event);
    return;
  }
  switch (event.event) {
    case "ping":
      state.conn.post({ action: "pong", token: event.token });
      break;
    case "shutdown":
      setStatus(`The server is shutting down: ${event.text}`, "warning");
      announce("The server is shutting down");
      break;
    case "bye":
      state.lastBye = event.text;
      break;
    default:
      break; // welcome, notices: nothing to show
  }
}

// The answer to {"action": "admin"}.
function proved(answer, password) {
  if (answer.event !== "ok") {
    state.conn.close();
    state.conn = null;
    const comingBack = state.password !== null;
    forget();
    showLogin(comingBack ? `Logging in again failed: ${answer.text}` : answer.text);
    return;
  }
  state.admin = true;
  state.password = password;
  state.loggedOut = false;
  state.backoff.reset();
  const wasBack = !ui.dashboard.hidden;
  ui.login.hidden = true;
  ui.dashboard.hidden = false;
  ui.loginPassword.value = "";
  ui.loginError.textContent = "";
  ui.loginPassword.removeAttribute("aria-invalid");
  if (wasBack) {
    setStatus("Reconnected", "up");
    announce("Reconnected");
    setTimeout(() => {
      if (ui.status.dataset.look === "up") setStatus(null);
    }, 3000);
  } else {
    setStatus(null);
    ui.refresh.focus();
  }
  refresh();
  loadAccounts();
  clearInterval(state.refreshTimer);
  state.refreshTimer = setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_SECONDS * 1000);
}

// The connection closed without our asking.
function lost() {
  state.conn = null;
  state.admin = false;
  state.pending.clear();
  state.waiting.clear();
  clearInterval(state.refreshTimer);
  if (state.password === null) {
    // The login form's try: the server went away before answering.
    ui.loginButton.disabled = false;
    showLogin("The server cannot be reached; try again.");
    return;
  }
  ui.updated.textContent = "not connected: what is shown may be out of date";
  ui.dashboard.classList.add("stale");
  const seconds = state.backoff.next();
  const why = state.lastBye ? ` (${state.lastBye})` : "";
  let left = Math.ceil(seconds);
  const tick = () => setStatus(`Disconnected${why}. Reconnecting in ${left} s…`, "lost", { action: true });
  tick();
  announce("Disconnected from the server");
  state.countdownTimer = setInterval(() => {
    left = Math.max(0, left - 1);
    tick();
  }, 1000);
  state.retryTimer = setTimeout(reconnect, seconds * 1000);
}

function reconnect() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  if (state.password === null) return;
  setStatus("Reconnecting…", "connecting");
  connect(state.password);
}

function forget() {
  state.password = null;
  state.admin = false;
  state.loggedOut = true;
  clearInterval(state.refreshTimer);
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
}

function showLogin(error) {
  for (const dialog of [ui.killDialog, ui.resetDialog, ui.deleteDialog]) if (dialog.open) dialog.close();
  ui.dashboard.hidden = true;
  ui.login.hidden = false;
  setStatus(null);
  // What the tables showed is not left on screen for whoever comes next.
  ui.connectionRows.replaceChildren();
  ui.accountRows.replaceChildren();
  ui.log.replaceChildren();
  ui.loginButton.disabled = false;
  ui.loginError.textContent = error || "";
  if (error) ui.loginPassword.setAttribute("aria-invalid", "true");
  else ui.loginPassword.removeAttribute("aria-invalid");
  ui.loginPassword.focus();
}

// -- connections and log --------------------------------------------------------

function refresh() {
  if (!live()) return;
  if (!state.waiting.has("connections")) {
    state.waiting.add("connections");
    request("connections", {}, (answer) => {
      state.waiting.delete("connections");
      if (answer.event === "error") ui.refreshError.textContent = `Connections: ${answer.text}`;
      else showConnections(answer);
    });
  }
  if (!state.waiting.has("log")) {
    state.waiting.add("log");
    request("log", { lines: LOG_LINES }, (answer) => {
      state.waiting.delete("log");
      if (answer.event === "error") ui.refreshError.textContent = `Log: ${answer.text}`;
      else showLog(answer.lines || []);
    });
  }
}

// Keep the focus on the same button across a redraw of a table.
function keepFocus(body, draw) {
  const focused = body.contains(document.activeElement) ? document.activeElement : null;
  const wanted = focused && focused.dataset ? { ...focused.dataset } : null;
  draw();
  if (!wanted) return;
  const same = [...body.querySelectorAll("button")].find(
    (b) => b.dataset.act === wanted.act && b.dataset.user === wanted.user,
  );
  if (same) same.focus();
}

function showConnections(answer) {
  ui.refreshError.textContent = "";
  ui.dashboard.classList.remove("stale");
  const now = typeof answer.ts === "number" ? answer.ts : Date.now() / 1000;
  const list = Array.isArray(answer.connections) ? answer.connections : [];
  state.connections = list;
  ui.usersOnline.textContent = String(answer.users_online ?? "–");
  ui.connectionCount.textContent = String(list.length);
  ui.uptime.textContent = typeof answer.uptime === "number" ? duration(answer.uptime) : "–";
  ui.updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  // People by name, then the connections that have none, oldest first.
  const sorted = [...list].sort((a, b) => {
    if (a.user && b.user) return fold(a.user) < fold(b.user) ? -1 : fold(a.user) > fold(b.user) ? 1 : a.since - b.since;
    if (a.user || b.user) return a.user ? -1 : 1;
    return a.since - b.since;
  });
  keepFocus(ui.connectionRows, () => {
    ui.connectionRows.replaceChildren(...sorted.map((c) => connectionRow(c, now)));
  });
  renderAccounts(); // who is online comes from here, live
}

function connectionRow(c, now) {
  const row = el("tr");
  const who = el("span", "who");
  if (c.user) {
    const name = el("span", "name", c.user);
    name.dir = "auto";
    who.append(name);
    if (c.registered === true) who.append(tag("account", "account", "logged in to a registered account"));
    else who.append(tag("guest", "guest", "a guest: anyone may use this name"));
  } else {
    row.classList.add("anonymous");
    who.append(el("span", "muted", "(not logged in)"));
  }
  if (c.admin) who.append(tag("admin", "admin", "this connection proved the admin password"));
  const since = el("span", null, typeof c.since === "number" ? duration(now - c.since) : "?");
  if (typeof c.since === "number") since.title = `since ${new Date(c.since * 1000).toLocaleString()}`;
  const rooms = Array.isArray(c.rooms) && c.rooms.length ? c.rooms.join(", ") : "–";
  const actions = el("span", "actions");
  if (c.user) {
    const kill = button("Disconnect", "danger-outline", { act: "kill", user: c.user });
    kill.setAttribute("aria-label", `Disconnect ${c.user}`);
    actions.append(kill);
  }
  row.append(
    cell("User", who),
    cell("Door", el("span", "door", c.door)),
    cell("Address", el("span", "address", c.address)),
    cell("Connected", since),
    cell("Rooms", el("span", "room-names", rooms)),
    cell("", actions),
  );
  return row;
}

function showLog(lines) {
  const box = ui.log;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(
    ...lines.map((line) => {
      const level = String(line.level || "info");
      const item = el("li", `log-line level-${level.replace(/[^a-z]/g, "")}`);
      item.append(
        moment(line.ts, { seconds: true }),
        el("span", "level", level),
        el("span", "source", line.source),
        el("span", "text", line.text),
      );
      return item;
    }),
  );
  if (lines.length === 0) box.append(el("li", "empty", "Nothing logged yet."));
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// -- accounts ---------------------------------------------------------------------

function loadAccounts() {
  if (!live()) return;
  request("accounts", {}, (answer) => {
    if (answer.event === "error") {
      ui.accountsError.textContent = answer.text;
      return;
    }
    ui.accountsError.textContent = "";
    state.accounts = Array.isArray(answer.accounts) ? answer.accounts : [];
    renderAccounts();
  });
}

function renderAccounts() {
  const online = new Set(state.connections.filter((c) => c.user).map((c) => fold(c.user)));
  ui.accountsEmpty.hidden = state.accounts.length > 0;
  keepFocus(ui.accountRows, () => {
    ui.accountRows.replaceChildren(
      ...state.accounts.map((a) => {
        const row = el("tr");
        const who = el("span", "who");
        const isOn = state.connections.length ? online.has(fold(a.user)) : Boolean(a.online);
        const dot = el("span", isOn ? "dot on" : "dot off");
        dot.title = isOn ? "online" : "offline";
        const name = el("span", "name", a.user);
        name.dir = "auto";
        who.append(dot, name, el("span", "visually-hidden", isOn ? " (online)" : " (offline)"));
        const reset = button("New password", "small", { act: "reset", user: a.user });
        reset.setAttribute("aria-label", `Set a new password for ${a.user}`);
        const remove = button("Delete", "danger-outline small", { act: "delete", user: a.user });
        remove.setAttribute("aria-label", `Delete the account ${a.user}`);
        const actions = el("span", "actions");
        actions.append(reset, remove);
        row.append(
          cell("Name", who),
          cell("Created", moment(a.created)),
          cell("Last login", moment(a.last_login)),
          cell("From", el("span", "address", a.last_address || "–")),
          cell("Last seen", isOn ? el("span", "online-now", "online now") : moment(a.last_seen)),
          cell("", actions),
        );
        return row;
      }),
    );
  });
}

function fieldError(input, output, text) {
  output.textContent = text || "";
  if (!input) return;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function createAccount() {
  const user = ui.createName.value.trim();
  const password = ui.createPassword.value;
  ui.accountsResult.textContent = "";
  fieldError(ui.createName, ui.createError, "");
  fieldError(ui.createPassword, ui.createError, "");
  if (!user) return fieldError(ui.createName, ui.createError, "Give the account a name.");
  if (!password) return fieldError(ui.createPassword, ui.createError, "Give the account a password.");
  if (request("account_create", { user, password }, (answer) => {
    if (answer.event === "error") {
      const onPassword = answer.code === "weak_password";
      fieldError(onPassword ? ui.createPassword : ui.createName, ui.createError, answer.text);
      return;
    }
    ui.createName.value = "";
    ui.createPassword.value = "";
    ui.accountsResult.textContent = answer.text;
    loadAccounts();
  }) === null) fieldError(null, ui.createError, "Not connected to the server.");
}

// -- the dialogs ------------------------------------------------------------------

function openDialog(dialog, nameSpan, error, user, focus) {
  nameSpan.textContent = user;
  error.textContent = "";
  dialog.showModal();
  if (focus) focus.focus();
}

function answerIn(dialog, error, input, then) {
  return (answer) => {
    if (answer.event === "error") {
      fieldError(input, error, answer.text);
      return;
    }
    dialog.close();
    then(answer);
  };
}

function askKill(user) {
  state.killing = user;
  ui.killReason.value = "";
  openDialog(ui.killDialog, ui.killUser, ui.killError, user, ui.killReason);
}

function kill() {
  const reason = ui.killReason.value.trim();
  const fields = reason ? { user: state.killing, reason } : { user: state.killing };
  const sent = request("kill", fields, answerIn(ui.killDialog, ui.killError, null, (answer) => {
    ui.killResult.textContent = answer.text;
    refresh();
  }));
  if (sent === null) ui.killError.textContent = "Not connected to the server.";
}

function askReset(user) {
  state.resetting = user;
  ui.resetPassword.value = "";
  fieldError(ui.resetPassword, ui.resetError, "");
  openDialog(ui.resetDialog, ui.resetUser, ui.resetError, user, ui.resetPassword);
}

function reset() {
  const password = ui.resetPassword.value;
  if (!password) return fieldError(ui.resetPassword, ui.resetError, "Type the new password.");
  const sent = request("account_reset", { user: state.resetting, password }, answerIn(ui.resetDialog, ui.resetError, ui.resetPassword, (answer) => {
    ui.resetPassword.value = "";
    ui.accountsResult.textContent = answer.text;
    loadAccounts();
  }));
  if (sent === null) ui.resetError.textContent = "Not connected to the server.";
}

function askDelete(user) {
  state.deleting = user;
  openDialog(ui.deleteDialog, ui.deleteUser, ui.deleteError, user, ui.deleteDialog.querySelector(".cancel"));
}

function remove() {
  const sent = request("account_delete", { user: state.deleting }, answerIn(ui.deleteDialog, ui.deleteError, null, (answer) => {
    ui.accountsResult.textContent = answer.text;
    loadAccounts();
  }));
  if (sent === null) ui.deleteError.textContent = "Not connected to the server.";
}

// -- wiring -----------------------------------------------------------------------

ui.loginForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const password = ui.loginPassword.value;
  if (!password) {
    ui.loginError.textContent = "Type the admin password.";
    ui.loginPassword.setAttribute("aria-invalid", "true");
    return;
  }
  ui.loginError.textContent = "";
  ui.loginButton.disabled = true;
  forget();
  connect(password);
});

ui.refresh.addEventListener("click", () => {
  refresh();
  loadAccounts();
});

ui.logout.addEventListener("click", () => {
  forget();
  if (state.conn) state.conn.close();
  state.conn = null;
  state.accounts = [];
  state.connections = [];
  showLogin(null);
});

ui.statusAction.addEventListener("click", reconnect);

ui.connectionRows.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-act='kill']");
  if (b) askKill(b.dataset.user);
});

ui.accountRows.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-act]");
  if (!b) return;
  if (b.dataset.act === "reset") askReset(b.dataset.user);
  if (b.dataset.act === "delete") askDelete(b.dataset.user);
});

ui.createForm.addEventListener("submit", (e) => {
  e.preventDefault();
  createAccount();
});

// The dialogs' forms are method="dialog": stop the submit from closing them
// until the server has answered.
for (const [form, act] of [[ui.killForm, kill], [ui.resetForm, reset], [ui.deleteForm, remove]]) {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    act();
  });
  form.querySelector(".cancel").addEventListener("click", () => form.closest("dialog").close());
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
window.addEventListener("online", () => {
  if (state.password !== null && !state.conn) reconnect();
});

ui.loginPassword.focus();
