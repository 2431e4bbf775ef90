// The tchat page: log in, rooms, people, messages, private conversations,
// /commands, history, room moderation (topics, operators, kicks, bans,
// mutes, invitations, modes), and coming back after the connection drops.
//
// How it is put together:
//   connection.js  the WebSocket (request ids) and the reconnect backoff
//   commands.js    what is typed in the message box -> JSON requests, read
//                  with the server's command table (/protocol.json)
//   view.js        DOM pieces built from chat data, always as text
//   app.js         (this file) the state of the page and the event handlers
//
// The state is a few plain objects (`state`, one `conv` per room or private
// conversation). Each conversation keeps its own <ol> of messages, so
// switching conversations only swaps which list is shown.

import * as commands from "./commands.js";
import { Backoff, Connection, socketURL } from "./connection.js";
import * as view from "./view.js";

const LOBBY = "#lobby";
const HISTORY_PAGE = 50;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), statusText: $("status-text"), statusAction: $("status-action"), announcer: $("announcer"),
  login: $("login"), loginForm: $("login-form"), loginName: $("login-name"), loginPassword: $("login-password"),
  loginNameError: $("login-name-error"), loginPasswordError: $("login-password-error"),
  loginButton: $("login-button"), motd: $("login-motd"), loginServer: $("login-server"),
  chat: $("chat"), me: $("me"), title: $("conv-title"), subtitle: $("conv-subtitle"),
  totalUnread: $("total-unread"), toggleRooms: $("toggle-rooms"), togglePeople: $("toggle-people"),
  roomsPanel: $("rooms-panel"), peoplePanel: $("people-panel"), scrim: $("scrim"),
  roomList: $("room-list"), privateList: $("private-list"), privateEmpty: $("private-empty"),
  joinForm: $("join-form"), joinRoom: $("join-room"), joinError: $("join-error"),
  leave: $("leave"), messages: $("messages"), logs: $("logs"), older: $("older"), historyNote: $("history-note"),
  sendForm: $("send-form"), input: $("input"), convNote: $("conv-note"),
  peopleTitle: $("people-title"), peopleNote: $("people-note"), memberList: $("member-list"),
  topic: $("topic"), topicText: $("topic-text"), modes: $("modes"), rejoin: $("rejoin"), invites: $("invites"),
};

const state = {
  conn: null,
  name: "",
  password: null, // kept in memory only, to log in again after a reconnect
  me: null, // the name the server gave us, once logged in
  registered: false, // logged in to a registered account: our own lines show the name bare
  loggedIn: false, // logged in at least once since the login form
  loggingIn: false, // the login form was sent and its answer has not come
  reconnecting: false,
  serverName: "tchat", // from the welcome (--server-name)
  motd: null,
  stayOut: null, // why not to reconnect: "quit", "kicked", a login error
  lastBye: null,
  conversations: new Map(),
  current: null,
  online: new Set(), // who the server's lists and join/part events say is online
  pending: new Map(), // request id -> what it was for
  historySupported: true,
  backoff: new Backoff(),
  retryTimer: null,
  countdownTimer: null,
  statusTimer: null,
  typed: [], // lines typed, for the up and down arrows
  typedAt: 0,
  invites: new Map(), // room key -> {room, by, error}: invitations not yet taken up
  openMenu: null, // the key of the person whose menu is open under People
};

// Names compare without case, as on the server (which also folds ß and the like).
const key = view.fold;
const isRoom = (name) => typeof name === "string" && name.startsWith("#");
const isMe = (name) => state.me !== null && key(name) === key(state.me);
const wide = () => window.matchMedia("(min-width: 48em)").matches;
// Logged in on an open connection: only then do the page's lists of who is
// online mean anything.
const connected = () => Boolean(state.me && !state.reconnecting && state.conn && state.conn.open);
// Whether someone is online: true, false, or null while the page cannot know.
const online = (k) => (connected() ? state.online.has(k) : null);
const now = () => Date.now() / 1000;

// -- conversations ----------------------------------------------------------

function conversation(name, kind = isRoom(name) ? "room" : "private") {
  const k = key(name);
  let conv = state.conversations.get(k);
  if (!conv) {
    conv = {
      key: k, name, kind, joined: false, members: new Map(),
      // A room's operators and voiced members (name keys), its topic and modes, as the server last said.
      ops: new Set(), voiced: new Set(), topic: null, topicBy: null, modes: null,
      list: view.el("ol", "message-list"), msgids: new Set(), unread: 0,
      more: false, historyAsked: false, loadingOlder: false, fromBottom: null,
    };
    conv.list.hidden = true;
    conv.list.setAttribute("aria-label", `Messages in ${name}`);
    ui.logs.append(conv.list);
    state.conversations.set(k, conv);
  }
  return conv;
}

function currentConv() {
  return state.current ? state.conversations.get(state.current) || null : null;
}

function convOf(k) {
  return (k && state.conversations.get(k)) || currentConv();
}

function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

// Put an item from history in a conversation's list in time order (history
// arrives after what came live, and older pages arrive last). What comes live
// goes at the end: the page's own lines carry this computer's clock, which
// need not agree with the server's.
function place(conv, item, ts, live) {
  const list = conv.list;
  const last = list.lastElementChild;
  if (live || !last || Number(last.dataset.ts) <= ts) {
    list.append(item);
    return;
  }
  for (const other of list.children) {
    if (Number(other.dataset.ts) > ts) {
      list.insertBefore(item, other);
      return;
    }
  }
  list.append(item);
}

function addItem(conv, item, ts, { live = true, own = false } = {}) {
  if (!conv) return;
  const shown = conv.key === state.current;
  const stick = shown && (own || nearBottom());
  const fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
  place(conv, item, ts, live);
  if (!shown) return;
  if (stick) scrollToBottom();
  else if (!live) ui.messages.scrollTop = ui.messages.scrollHeight - fromBottom; // keep what was on screen
}

function addMessage(conv, m, { live = true, own = false, status = null } = {}) {
  if (m.msgid) {
    if (conv.msgids.has(m.msgid)) return;
    conv.msgids.add(m.msgid);
  }
  addItem(conv, view.messageItem(m, { own, me: state.me, status }), m.ts, { live, own });
  if (live && !own && (conv.key !== state.current || document.hidden)) {
    conv.unread += 1;
    renderConversations();
  }
}

function say(conv, text, kind = "sys", ts = now()) {
  addItem(conv || currentConv(), view.systemItem(text, kind, ts), ts);
}

function show(conv, { focus = true } = {}) {
  const previous = currentConv();
  if (previous && previous !== conv) {
    previous.fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
    previous.list.hidden = true;
  }
  state.current = conv.key;
  conv.unread = 0;
  conv.list.hidden = false;
  ui.title.textContent = conv.name;
  ui.input.placeholder = conv.kind === "room" ? `Message ${conv.name} (or /help)` : `Message ${conv.name} privately`;
  if (conv.fromBottom === null) scrollToBottom();
  else ui.messages.scrollTop = ui.messages.scrollHeight - conv.fromBottom;
  renderConversations();
  renderMembers();
  renderOlder();
  closePanels();
  if (!conv.historyAsked) loadHistory(conv);
  if (conv.kind === "private") askPresence(conv);
  if (conv.kind === "room" && conv.joined && conv.members.size === 0 && !conv.membersAsked) {
    conv.membersAsked = true;
    request({ action: "users", room: conv.name }, { type: "members" });
  }
  if (focus && wide()) ui.input.focus();
}

function forget(conv) {
  conv.list.remove();
  state.conversations.delete(conv.key);
  if (state.current === conv.key) {
    state.current = null;
    const next = state.conversations.get(key(LOBBY)) || state.conversations.values().next().value;
    if (next) show(next);
    else {
      ui.title.textContent = state.serverName;
      renderConversations();
      renderMembers();
    }
  } else {
    renderConversations();
  }
}

function renderConversations() {
  const convs = [...state.conversations.values()];
  const byName = (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" });
  const rooms = convs.filter((c) => c.kind === "room").sort((a, b) => (a.key === key(LOBBY) ? -1 : b.key === key(LOBBY) ? 1 : byName(a, b)));
  const privates = convs.filter((c) => c.kind === "private").sort(byName);
  const item = (c) => {
    const li = view.el("li");
    li.append(view.conversationButton(c, { current: c.key === state.current, online: online(c.key) }));
    return li;
  };
  ui.roomList.replaceChildren(...rooms.map(item));
  ui.privateList.replaceChildren(...privates.map(item));
  ui.privateEmpty.hidden = privates.length > 0;
  const unread = convs.reduce((sum, c) => sum + c.unread, 0);
  ui.totalUnread.hidden = unread === 0;
  ui.totalUnread.textContent = unread > 99 ? "99+" : String(unread);
  renderTitle(unread);
}

// The tab's title: the server's name (--server-name, "tchat" unless the
// operator chose another), after the unread count or the person's name.
function renderTitle(unread = 0) {
  const server = state.serverName;
  document.title = unread ? `(${unread}) ${server}` : state.me ? `${state.me} – ${server}` : server;
}

// Above the messages of a room: its topic (text of its own direction, links
// made clickable, never markup), its modes, and the buttons to leave it, or,
// once out of it (a kick, a ban), to join again or close it.
function renderRoomBar(conv) {
  const room = conv && conv.kind === "room" ? conv : null;
  // Once out of a room the page hears no more of it: no topic that may be stale.
  const topic = room && room.joined && room.topic ? room.topic : "";
  ui.topic.hidden = !topic;
  ui.topicText.replaceChildren(...(topic ? [view.richText(topic, "topic-words")] : []));
  ui.topic.title = topic ? (room.topicBy ? `${topic}\n(set by ${room.topicBy})` : topic) : "";
  const letters = room && room.joined && connected() ? view.modeLetters(room.modes) : "";
  ui.modes.hidden = !letters;
  ui.modes.textContent = letters;
  ui.modes.title = letters ? `modes of ${room.name}: ${view.modeWords(room.modes)}` : "";
  if (!conv) {
    ui.leave.hidden = true;
    ui.rejoin.hidden = true;
    return;
  }
  const out = conv.kind === "room" && !conv.joined;
  ui.leave.hidden = false;
  ui.leave.textContent = conv.kind === "private" ? "Close conversation" : out ? `Close ${conv.name}` : `Leave ${conv.name}`;
  ui.rejoin.hidden = !out;
  ui.rejoin.textContent = `Join ${conv.name} again`;
}

// Whether we may run a room (op, deop, kick, ban, mute): we are one of its
// operators, as its join, its member list and op and deop events say. The
// server decides; this only chooses what the page offers.
const isOpIn = (conv) => Boolean(conv && conv.kind === "room" && conv.joined && state.me && conv.ops.has(key(state.me)));

function rankIn(conv, k) {
  return conv.ops.has(k) ? "op" : conv.voiced.has(k) ? "voiced" : null;
}

function renderMembers() {
  const conv = currentConv();
  ui.memberList.replaceChildren();
  renderNote(conv);
  renderRoomBar(conv);
  // Disconnected, the lists the page had are out of date at once: say that
  // it does not know rather than show people online who may be gone.
  ui.peopleNote.hidden = connected() || !state.me;
  if (!conv) {
    ui.subtitle.textContent = "";
    return;
  }
  if (!connected()) {
    ui.peopleTitle.textContent = conv.kind === "room" ? `In ${conv.name}` : "Private conversation";
    ui.subtitle.textContent = "not connected";
    return;
  }
  if (conv.kind === "room") {
    // Operators first, then voiced members, then everyone else, each by name.
    const order = { op: 0, voiced: 1 };
    const byRank = (a, b) => (order[rankIn(conv, key(a))] ?? 2) - (order[rankIn(conv, key(b))] ?? 2)
      || a.localeCompare(b, undefined, { sensitivity: "base" });
    const names = [...conv.members.values()].sort(byRank);
    const moderate = isOpIn(conv);
    ui.peopleTitle.textContent = `In ${conv.name} (${names.length})`;
    ui.subtitle.textContent = conv.joined ? `${names.length} here` : "not joined";
    for (const name of names) {
      const k = key(name);
      const menu = isMe(name) ? null : { moderate, open: state.openMenu === k };
      ui.memberList.append(view.memberItem(name, { me: isMe(name), online: true, rank: rankIn(conv, k), room: conv.name, menu }));
    }
  } else {
    const here = online(conv.key);
    ui.peopleTitle.textContent = "Private conversation";
    ui.subtitle.textContent = here ? "online" : "offline";
    ui.memberList.append(view.memberItem(conv.name, { me: false, online: here }));
    if (state.me) ui.memberList.append(view.memberItem(state.me, { me: true, online: true }));
  }
}

// Above the message box of a private conversation with someone who is not
// online: whether what is sent now reaches them. conv.waits is what the
// server said: true for an account (it keeps messages for them), false for
// a name that is neither online nor registered (a message would be refused),
// undefined while the page does not know.
function renderNote(conv) {
  let text = "";
  if (conv && conv.kind === "private" && online(conv.key) === false && !isMe(conv.name)) {
    const who = conv.name;
    if (conv.waits === true) text = `${who} is offline. What you send waits for them until they next log in.`;
    else if (conv.waits === false) text = `${who} is offline, and is no registered user: what you send now cannot reach them.`;
    else text = `${who} is offline.`;
  }
  ui.convNote.textContent = text;
  ui.convNote.hidden = !text;
}

// Ask the server whether the other person of a private conversation is
// online: the page sees joins and parts only in the rooms it shares with
// them, and a message says nothing about now (it may have waited for us).
function askPresence(conv) {
  if (conv.presenceAsked || !connected() || isMe(conv.name)) return;
  conv.presenceAsked = true;
  request({ action: "seen", user: conv.name }, { type: "presence", conv: conv.key });
}

function setPresence(k, here, waits) {
  if (here) state.online.add(k);
  else state.online.delete(k);
  const conv = state.conversations.get(k);
  if (conv && conv.kind === "private" && waits !== undefined) conv.waits = waits;
  renderConversations();
  renderMembers();
}

function renderOlder() {
  const conv = currentConv();
  ui.older.hidden = !(conv && conv.more && state.historySupported);
  ui.older.disabled = Boolean(conv && conv.loadingOlder);
}

// Who is in a room, and (when the server says) who of them are its
// operators and voiced members.
function setMembers(conv, names, { ops, voiced } = {}) {
  conv.members = new Map(names.map((n) => [key(n), n]));
  for (const n of names) state.online.add(key(n));
  if (Array.isArray(ops)) conv.ops = new Set(ops.map(key));
  if (Array.isArray(voiced)) conv.voiced = new Set(voiced.map(key));
  if (conv.key === state.current) renderMembers();
}

// Someone is no longer in a room: nor among its operators or voiced members
// (a guest's rights there end when they leave; an account's the server
// tells again when they come back).
function dropMember(conv, k) {
  const was = conv.members.delete(k);
  conv.ops.delete(k);
  conv.voiced.delete(k);
  return was;
}

// We are out of a room (kicked, banned): it stays in the list, marked, with
// what happened in it, and its bar offers to join again or to close it.
function outOf(conv) {
  conv.joined = false;
  conv.members.clear();
  conv.ops.clear();
  conv.voiced.clear();
  conv.membersAsked = false;
  if (state.openMenu !== null && conv.key === state.current) state.openMenu = null;
  renderConversations();
  renderMembers();
}

function setTopic(conv, topic, by = null) {
  conv.topic = topic || null;
  conv.topicBy = topic ? by : null;
  if (conv.key === state.current) renderRoomBar(conv);
}

function renderInvites() {
  const invites = [...state.invites.values()];
  ui.invites.replaceChildren(...invites.map(view.inviteItem));
  ui.invites.hidden = invites.length === 0;
}

// The room an event is about, if the page has it.
const roomOf = (ev) => (isRoom(ev.room) ? state.conversations.get(key(ev.room)) || null : null);
const who = (name) => (isMe(name) ? "you" : name);

// -- history ----------------------------------------------------------------

function oldestMsgid(conv) {
  const first = conv.list.querySelector("li[data-msgid]");
  return first ? first.dataset.msgid : null;
}

function loadHistory(conv, older = false) {
  if (!state.historySupported || !state.conn || !state.conn.open) return;
  const req = { action: "history", target: conv.name, limit: HISTORY_PAGE };
  if (older) {
    const before = oldestMsgid(conv);
    if (!before || conv.loadingOlder) return;
    req.before = before;
    conv.loadingOlder = true;
    renderOlder();
  }
  conv.historyAsked = true;
  request(req, { type: "history", conv: conv.key });
}

function onHistory(ev, pending) {
  // Asked by the page: the conversation it was for; typed (/history): the target.
  const asked = pending && pending.type === "history" ? state.conversations.get(pending.conv) : null;
  // The page asked for a room it has left since: the answer is for nothing on screen.
  if (pending && pending.type === "history" && !asked) return;
  const conv = asked || conversation(ev.target);
  for (const m of ev.messages || []) addMessage(conv, m, { live: false, own: isMe(m.from) });
  conv.more = Boolean(ev.more);
  conv.loadingOlder = false;
  if (pending && pending.typed && conv.key !== state.current) show(conv);
  if (conv.key === state.current) renderOlder();
}

// -- talking to the server --------------------------------------------------

function request(req, info = {}) {
  if (!state.conn || !state.conn.open) return null;
  const id = state.conn.send(req);
  state.pending.set(id, { conv: state.current, ...info, action: req.action, req });
  return id;
}

function connect() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  state.retryTimer = null;
  if (state.conn && state.conn.open) {
    sendLogin();
    return;
  }
  if (state.conn && !state.conn.closed) return; // still connecting; it logs in when open
  // On the login screen before the form is sent, the connection is only a
  // first look (see the welcome handler): it logs in only when asked to.
  const onOpen = () => {
    commands.retry(); // the server is there: if its command table did not come, ask again now
    if (state.loggingIn || state.loggedIn) sendLogin();
  };
  state.conn = new Connection(socketURL(window.location), { onOpen, onEvent, onClose });
}

function sendLogin() {
  const req = { action: "login", user: state.name };
  if (state.password) req.password = state.password;
  request(req, { type: "login" });
}

function onEvent(ev) {
  const pending = ev.re !== undefined ? state.pending.get(ev.re) : undefined;
  if (pending) state.pending.delete(ev.re);
  const handler = HANDLERS[ev.event];
  if (handler) handler(ev, pending);
  else say(convOf(pending && pending.conv), describe(ev), "sys", ev.ts);
}

function describe(ev) {
  const fields = Object.entries(ev).filter(([k]) => !["event", "ts", "re"].includes(k));
  return `${ev.event}: ${fields.map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ")}`;
}

const list = (names) => (names && names.length ? names.join(", ") : "nobody");

// Our own message as the others get it: cleaned as the server cleans it
// (line breaks become spaces; escape sequences and control characters go),
// marked as the server marks it (~ unless we are an account).
function ownMessage(req, msgid, ts) {
  const kind = req.kind === "action" ? "action" : isRoom(req.to) ? "public" : "private";
  const text = req.text
    .replace(/[\r\n]+/g, " ")
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, "")
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "")
    .trimEnd();
  return { msgid, from: state.me, to: req.to, text, kind, ts, registered: state.registered };
}

const HANDLERS = {
  welcome(ev) {
    state.motd = ev.motd || null;
    ui.motd.textContent = ev.motd || "";
    ui.motd.hidden = !ev.motd;
    if (typeof ev.server === "string" && ev.server) state.serverName = ev.server;
    ui.loginServer.textContent = state.serverName;
    renderConversations(); // the title
    if (!state.loggingIn && !state.loggedIn) {
      // The first look, from the login screen: the name and the message of
      // the day were what it came for. A connection held open here would
      // count against the server's limit of connections not logged in.
      state.conn.close();
      state.conn = null;
    }
  },

  logged_in(ev) {
    const again = state.loggedIn;
    state.me = ev.user;
    state.registered = ev.registered === true;
    state.name = ev.user;
    state.loggedIn = true;
    state.loggingIn = false;
    state.stayOut = null;
    state.backoff.reset();
    state.online = new Set((ev.users || []).map(key));
    try {
      localStorage.setItem("tchat.name", ev.user);
    } catch {
      // storage may be off; the name is only a convenience
    }
    ui.me.textContent = ev.user;
    ui.login.hidden = true;
    ui.chat.hidden = false;
    ui.loginButton.disabled = false;
    ui.loginPassword.value = "";

    const rooms = new Set((ev.rooms || []).map(key));
    const topics = ev.topics && typeof ev.topics === "object" ? ev.topics : {};
    for (const room of ev.rooms || []) {
      const conv = conversation(room, "room");
      conv.joined = true;
      conv.membersAsked = true;
      setTopic(conv, typeof topics[room] === "string" ? topics[room] : null);
      request({ action: "users", room }, { type: "members" });
    }
    // What arrived in a registered user's rooms while they were away.
    for (const [room, count] of Object.entries(ev.unread || {})) {
      const conv = state.conversations.get(key(room));
      if (conv && count > 0 && conv.key !== state.current) conv.unread = Math.max(conv.unread, count);
    }
    if (again) {
      // Back after a drop: rejoin the rooms we were in, fill the gap.
      for (const conv of state.conversations.values()) {
        if (conv.kind === "room" && conv.joined && !rooms.has(conv.key)) {
          request({ action: "join", room: conv.name }, { type: "rejoin" });
        }
        conv.historyAsked = false;
      }
      state.reconnecting = false;
      setStatus("Reconnected", { look: "up", clearAfter: 4000 });
      say(currentConv(), "Reconnected.", "back");
      const conv = currentConv();
      if (conv) loadHistory(conv);
    } else {
      setStatus(null);
    }
    renderConversations();
    const conv = currentConv() || state.conversations.get(key(LOBBY)) || conversation(ev.rooms && ev.rooms.length ? ev.rooms[0] : LOBBY);
    if (!again) {
      show(conv);
      if (state.motd) say(conv, state.motd, "notice");
    } else {
      renderMembers();
    }
    if (wide()) ui.input.focus();
  },

  message(ev) {
    // A message says nothing about whether its sender is online now: it may
    // have waited for us (delayed) since they left.
    let conv;
    if (isRoom(ev.to)) {
      conv = conversation(ev.to, "room");
    } else {
      const other = isMe(ev.from) ? ev.to : ev.from;
      conv = conversation(other, "private");
      conv.name = other; // as the server spells it
    }
    addMessage(conv, ev, { own: isMe(ev.from) });
    if (conv.kind === "private") {
      // Live from someone the page has not seen come (they share no room
      // with us): ask. Delayed ones wait until the conversation is opened,
      // so that a login with many waiting does not send as many requests.
      if (!ev.delayed && !isMe(ev.from) && !state.online.has(conv.key)) askPresence(conv);
      renderConversations();
    }
  },

  join(ev) {
    state.online.add(key(ev.user));
    if (isMe(ev.user)) {
      // Another session of this account joined: the account is in the room,
      // so this page is too (the server sends its messages here from now on).
      const conv = conversation(ev.room, "room");
      conv.name = ev.room;
      conv.joined = true;
      conv.membersAsked = true;
      request({ action: "users", room: ev.room }, { type: "members" });
      say(conv, `you joined ${ev.room} from another session`, "sys", ev.ts);
      renderConversations();
      return;
    }
    const conv = state.conversations.get(key(ev.room));
    if (conv) {
      conv.members.set(key(ev.user), ev.user);
      // An operator of a kept room coming back in: marked at once.
      if (ev.op === true) conv.ops.add(key(ev.user));
      say(conv, `${ev.user} joined ${ev.room}`, "sys", ev.ts);
      if (conv.key === state.current) renderMembers();
    }
    if (state.conversations.has(key(ev.user))) {
      // someone we talk with privately: their dot, and the note under the conversation
      renderConversations();
      renderMembers();
    }
  },

  part(ev) {
    if (isMe(ev.user)) {
      // Another session of this account left the room: so has this page.
      const mine = state.conversations.get(key(ev.room));
      if (mine) forget(mine);
      say(currentConv(), `you left ${ev.room} from another session`, "sys", ev.ts);
      renderConversations();
      return;
    }
    const conv = state.conversations.get(key(ev.room));
    if (conv) {
      dropMember(conv, key(ev.user));
      say(conv, `${ev.user} left ${ev.room}${ev.reason ? ` (${ev.reason})` : ""}`, "sys", ev.ts);
    }
    renderConversations();
    renderMembers();
  },

  // Someone left the chat (a quit, a lost connection, a kick): said once,
  // naming the rooms shared with them; a part is only ever one room.
  quit(ev) {
    const rooms = ev.rooms ? ev.rooms.map(key) : [...state.conversations.keys()];
    for (const k of rooms) {
      const conv = state.conversations.get(k);
      if (!conv || conv.kind !== "room" || !dropMember(conv, key(ev.user))) continue;
      say(conv, `${ev.user} left${ev.reason ? ` (${ev.reason})` : ""}`, "sys", ev.ts);
    }
    state.online.delete(key(ev.user));
    renderConversations();
    renderMembers();
  },

  ok(ev, pending) {
    if (!pending) return;
    const req = pending.req;
    switch (pending.action) {
      case "msg": {
        if (!isRoom(req.to) && isMe(req.to)) return; // the message itself comes back
        // The ok comes once the message is kept, after its delivery: this
        // account may have left the room meanwhile (from another device),
        // and a room left stays gone from the list.
        if (isRoom(req.to) && !state.conversations.has(key(req.to))) return;
        const conv = conversation(req.to);
        const waiting = ev.queued === true; // they are away; the server keeps it for them
        addMessage(conv, ownMessage(req, ev.msgid, ev.ts), { own: true, status: waiting ? "waiting" : null });
        if (waiting) {
          if (ev.text) say(conv, ev.text, "notice", ev.ts);
          setPresence(conv.key, false, true);
        } else if (conv.kind === "private" && !isMe(conv.name)) {
          setPresence(conv.key, true); // the server handed it to them just now
        }
        if (pending.typed && conv.key !== state.current) show(conv);
        else if (conv.kind === "private") renderConversations();
        return;
      }
      case "join": {
        const conv = conversation(ev.room || req.room, "room");
        conv.name = ev.room || conv.name;
        conv.joined = true;
        if (ev.modes && typeof ev.modes === "object") conv.modes = ev.modes;
        if ("topic" in ev) setTopic(conv, ev.topic);
        setMembers(conv, ev.users || [], { ops: ev.ops, voiced: ev.voiced });
        if (state.invites.delete(conv.key)) renderInvites();
        renderConversations();
        if (pending.type === "rejoin") return;
        ui.joinRoom.value = "";
        ui.joinError.textContent = "";
        show(conv);
        return;
      }
      case "part": {
        const conv = state.conversations.get(key(ev.room || req.room));
        if (conv) forget(conv);
        if (ev.text) say(currentConv(), ev.text);
        return;
      }
      case "room":
        return;
      case "topic":
      case "op":
      case "deop":
      case "voice":
      case "devoice":
      case "kick":
      case "ban":
      case "mode": {
        // Done by us: the server answers with ok, and the events go to the
        // others (and to our other sessions), so the page updates itself.
        const conv = roomOf(ev);
        if (conv) ownChange(pending.action, conv, ev);
        say(convOf(pending.conv), ev.text || `${pending.action}: done`, "notice", ev.ts);
        return;
      }
      case "nick":
        if (typeof ev.user === "string" && typeof ev.old === "string" && ev.user !== ev.old) renamed(ev.old, ev.user);
        say(convOf(pending.conv), ev.text || `you are ${ev.user} now`, "notice", ev.ts);
        return;
      case "register":
        // The server counts this login as the account's from now on.
        state.registered = true;
        say(convOf(pending.conv), ev.text || "registered", "notice", ev.ts);
        return;
      default:
        say(convOf(pending.conv), ev.text || `${pending.action}: done`, "notice", ev.ts);
    }
  },

  error(ev, pending) {
    const text = `${ev.text} (${ev.code})`;
    if (pending && pending.type === "login") return loginFailed(ev);
    if (pending && pending.type === "members") return;
    if (pending && pending.type === "history") {
      const conv = state.conversations.get(pending.conv);
      if (conv) conv.loadingOlder = false;
      if (conv) conv.more = false; // no more paging back after a refusal
      if (ev.code === "unknown_command") {
        // This server keeps no history: show what arrives from now on, and do not ask again.
        state.historySupported = false;
        ui.historyNote.textContent = "This server keeps no history: you see the messages sent since you opened the page.";
        ui.historyNote.hidden = false;
        if (pending.typed) say(convOf(pending.conv), text, "error", ev.ts);
      } else if (pending.typed) {
        say(convOf(pending.conv), text, "error", ev.ts);
      }
      renderOlder();
      return;
    }
    if (pending && pending.type === "invite") {
      // The invitation stays, with why joining did not work (a ban, a full room).
      const invite = state.invites.get(pending.room);
      if (invite) {
        invite.error = ev.text;
        renderInvites();
      }
      say(convOf(pending.conv), text, "error", ev.ts);
      return;
    }
    if (pending && pending.type === "join-form") {
      ui.joinError.textContent = ev.text;
      ui.joinRoom.focus();
      return;
    }
    if (pending && pending.type === "presence") {
      // Neither online nor registered: gone, and nothing sent to them waits.
      const conv = state.conversations.get(pending.conv);
      if (conv) conv.presenceAsked = false;
      if (ev.code === "no_such_user") setPresence(pending.conv, false, false);
      return; // any other refusal (an older server, flood control): the page knows no more
    }
    if (pending && pending.action === "msg" && ev.delivered === true) {
      // Delivered, but not kept (the server's database did not answer):
      // it is shown as sent, with why it will not be in the history.
      const conv = conversation(pending.req.to);
      addMessage(conv, ownMessage(pending.req, ev.msgid || null, ev.ts), { own: true });
      say(conv, ev.text, "error", ev.ts);
      return;
    }
    if (pending && pending.action === "msg") {
      const req = pending.req;
      const gone = state.conversations.get(key(req.to));
      if (ev.code === "no_such_user" && gone && gone.kind === "private") {
        // Someone who left, to whom nothing can wait: the message stays in
        // the conversation, marked, with the server's reason.
        addMessage(gone, ownMessage(req, null, ev.ts), { own: true, status: "unsent" });
        say(gone, ev.text, "error", ev.ts);
        setPresence(gone.key, false, false);
        return;
      }
      if (ev.code === "no_such_user") state.online.delete(key(req.to));
      const conv = gone || convOf(pending.conv);
      say(conv, `Not sent: ${text}`, "error", ev.ts);
      if (pending.typed && !ui.input.value) ui.input.value = pending.line || "";
      renderConversations();
      renderMembers();
      return;
    }
    say(convOf(pending && pending.conv), text, "error", ev.ts);
  },

  users(ev, pending) {
    if (ev.room) {
      const conv = state.conversations.get(key(ev.room));
      if (conv && conv.joined) setMembers(conv, ev.users || [], { ops: ev.ops, voiced: ev.voiced });
    } else {
      state.online = new Set((ev.users || []).map(key));
      renderConversations();
      renderMembers();
    }
    if (pending && pending.typed) {
      // In a room, its operators marked @ and its voiced members + (as IRC does).
      const ops = new Set((ev.ops || []).map(key));
      const voiced = new Set((ev.voiced || []).map(key));
      const marked = (ev.users || []).map((n) => (ops.has(key(n)) ? `@${n}` : voiced.has(key(n)) ? `+${n}` : n));
      say(convOf(pending.conv), ev.room ? `In ${ev.room}: ${list(marked)}` : `Online: ${list(ev.users)}`, "notice", ev.ts);
    }
  },

  rooms(ev, pending) {
    const rooms = (ev.rooms || []).map((r) => `${r.room} (${r.members})`);
    say(convOf(pending && pending.conv), `Rooms: ${list(rooms)}`, "notice", ev.ts);
  },

  whoami(ev, pending) {
    const admin = ev.admin ? " (admin)" : "";
    say(convOf(pending && pending.conv), `You are ${ev.user}${admin}, in ${list(ev.rooms)}`, "notice", ev.ts);
  },

  help(ev, pending) {
    const conv = convOf(pending && pending.conv);
    for (const entry of ev.commands || []) {
      const aliases = entry.aliases && entry.aliases.length ? ` (also ${entry.aliases.join(", ")})` : "";
      say(conv, `${entry.usage}${aliases}: ${entry.text}`, "notice", ev.ts);
    }
    if (!pending || !pending.req.command) {
      for (const c of commands.pageHelp()) say(conv, `${c.usage}: ${c.text}`, "notice", ev.ts);
      say(conv, "On this page: click a name under People to talk privately; start a line with // to send one beginning with /.", "notice", ev.ts);
    }
  },

  debug(ev, pending) {
    const conv = convOf(pending && pending.conv);
    say(conv, `uptime ${Math.round(ev.uptime)} s, ${ev.connections.length} connections, ${ev.users_online} logged in, ${ev.rooms.length} rooms`, "notice", ev.ts);
    for (const c of ev.connections) {
      say(conv, `${c.user || "(not logged in)"} from ${c.address} via ${c.door}, in ${list(c.rooms)}${c.admin ? " (admin)" : ""}`, "notice", ev.ts);
    }
    for (const r of ev.rooms) say(conv, `${r.room}: ${list(r.users)}`, "notice", ev.ts);
  },

  history: onHistory,

  contacts(ev, pending) {
    const people = (ev.contacts || ev.users || []).map((c) => (typeof c === "string" ? c : `${c.user} (${c.online ? "online" : "offline"})`));
    say(convOf(pending && pending.conv), `Contacts: ${list(people)}`, "notice", ev.ts);
  },

  seen(ev, pending) {
    // Online, or else an account (the server knows the last time only of those).
    setPresence(key(ev.user), ev.online === true, ev.online === true ? undefined : true);
    const asked = pending && pending.type === "presence" ? state.conversations.get(pending.conv) : null;
    if (asked) asked.presenceAsked = false; // the next look asks again
    if (!pending || !pending.typed) return;
    const date = (ts) => new Date(ts * 1000).toLocaleString();
    let text = `${ev.user} ${ev.online ? "is online now" : ev.last_seen ? `was last seen ${date(ev.last_seen)}` : "has not been seen"}`;
    if (ev.last_login) text += `; last login ${date(ev.last_login)}${ev.last_address ? ` from ${ev.last_address}` : ""}`;
    say(convOf(pending && pending.conv), text, "notice", ev.ts);
  },

  accounts(ev, pending) {
    const conv = convOf(pending && pending.conv);
    const accounts = ev.accounts || [];
    say(conv, `${accounts.length} accounts`, "notice", ev.ts);
    for (const a of accounts) {
      const login = a.last_login ? `last login ${new Date(a.last_login * 1000).toLocaleString()}${a.last_address ? ` from ${a.last_address}` : ""}` : "never logged in";
      say(conv, `${a.user}${a.online ? " (online)" : ""}: ${login}`, "notice", ev.ts);
    }
  },

  // -- rooms run by their operators: what others did (what we did is
  // answered with ok, above) --

  topic(ev, pending) {
    const conv = roomOf(ev);
    if (conv && conv.joined) setTopic(conv, ev.topic, ev.by);
    if (pending) {
      // The answer to reading a topic (/topic #room).
      const text = ev.text || (ev.topic ? `topic of ${ev.room}: ${ev.topic}` : `${ev.room} has no topic`);
      say(convOf(pending.conv), text, "notice", ev.ts);
      return;
    }
    if (conv) say(conv, ev.topic ? `${who(ev.by)} set the topic: ${ev.topic}` : `${who(ev.by)} cleared the topic`, "sys", ev.ts);
  },

  op: rankEvent("ops", true, (ev) => `${who(ev.by)} made ${who(ev.user)} an operator of ${ev.room}`),
  deop: rankEvent("ops", false, (ev) => `${who(ev.by)} took ${whose(ev.user)} operator rights in ${ev.room}`),
  voice: rankEvent("voiced", true, (ev) => `${who(ev.by)} gave ${who(ev.user)} a voice in ${ev.room}`),
  devoice: rankEvent("voiced", false, (ev) => `${who(ev.by)} took ${whose(ev.user)} voice in ${ev.room}`),

  kick(ev) {
    const conv = roomOf(ev);
    const reason = ev.reason ? ` (${ev.reason})` : "";
    if (isMe(ev.user)) {
      // We are out of the room, on every device: it stays listed, marked.
      const text = `${who(ev.by)} put you out of ${ev.room}${reason}`;
      if (conv) {
        say(conv, text, "warning", ev.ts);
        outOf(conv);
      }
      if (!conv || conv.key !== state.current) say(currentConv(), text, "warning", ev.ts);
      ui.announcer.textContent = text;
      return;
    }
    if (!conv) return;
    dropMember(conv, key(ev.user));
    say(conv, `${who(ev.by)} put ${ev.user} out of ${ev.room}${reason}`, "sys", ev.ts);
    if (conv.key === state.current) renderMembers();
  },

  ban: restrictionEvent((ev) => `${who(ev.by)} banned ${who(ev.user)} from ${ev.room}, ${view.until(ev.until)}`),
  unban: restrictionEvent((ev) => `${who(ev.by)} let ${who(ev.user)} into ${ev.room} again`),
  mute: restrictionEvent((ev) => `${who(ev.by)} muted ${who(ev.user)} in ${ev.room}, ${view.until(ev.until)}`),
  unmute: restrictionEvent((ev) => `${who(ev.by)} let ${who(ev.user)} speak in ${ev.room} again`),

  invite(ev) {
    if (!isRoom(ev.room)) return;
    state.invites.set(key(ev.room), { room: ev.room, by: String(ev.by || "someone") });
    renderInvites();
    const text = `${ev.by} invites you to ${ev.room}`;
    say(currentConv(), text, "notice", ev.ts);
    ui.announcer.textContent = text;
  },

  mode(ev, pending) {
    const conv = roomOf(ev);
    if (conv && ev.modes && typeof ev.modes === "object") conv.modes = ev.modes;
    if (pending) {
      // The answer to reading a room's modes (/mode #room).
      say(convOf(pending.conv), ev.text || `modes of ${ev.room}: ${view.modeLetters(ev.modes) || "none"}`, "notice", ev.ts);
    } else if (conv) {
      say(conv, `${who(ev.by)} set ${view.modeChange(ev.set) || "the modes"} on ${ev.room}`, "sys", ev.ts);
    }
    if (conv && conv.key === state.current) renderRoomBar(conv);
  },

  bans(ev, pending) {
    const conv = convOf(pending && pending.conv);
    const entry = (r) => `${r.user} (by ${r.by}, ${view.until(r.until)})`;
    say(conv, `Banned from ${ev.room}: ${list((ev.bans || []).map(entry))}`, "notice", ev.ts);
    say(conv, `Muted in ${ev.room}: ${list((ev.mutes || []).map(entry))}`, "notice", ev.ts);
  },

  // For IRC's away-notify: nothing to show here (/whois tells).
  away() {},

  nick(ev) {
    if (typeof ev.old !== "string" || typeof ev.new !== "string") return;
    if (isMe(ev.old)) {
      // Renamed from another session of ours.
      renamed(ev.old, ev.new);
      say(currentConv(), `you are ${ev.new} now (renamed from another session)`, "sys", ev.ts);
      return;
    }
    const rooms = Array.isArray(ev.rooms) ? ev.rooms.map(key) : [...state.conversations.keys()];
    for (const k of rooms) {
      const conv = state.conversations.get(k);
      if (conv && conv.kind === "room" && renameIn(conv, ev.old, ev.new)) say(conv, `${ev.old} is now known as ${ev.new}`, "sys", ev.ts);
    }
    renamePrivate(ev.old, ev.new, ev.ts);
    renderConversations();
    renderMembers();
  },

  whois(ev, pending) {
    let text = ev.text || `${ev.user}: ${ev.online ? "online" : "not online"}`;
    if (typeof ev.idle === "number") text += `; idle ${seconds(ev.idle)}`;
    if (typeof ev.sessions === "number" && ev.sessions > 1) text += `; on ${ev.sessions} devices`;
    say(convOf(pending && pending.conv), text, "notice", ev.ts);
  },

  notice(ev) {
    if (/^you were kicked/i.test(ev.text)) state.stayOut = ev.text;
    say(currentConv(), ev.text, "notice", ev.ts);
  },

  shutdown(ev) {
    say(currentConv(), `The server is going down: ${ev.text}`, "warning", ev.ts);
    setStatus(`The server is going down: ${ev.text}`, { look: "warning" });
  },

  bye(ev) {
    state.lastBye = ev.text; // said when the connection closes (onClose)
  },

  ping(ev) {
    state.conn.post({ action: "pong", token: ev.token });
  },

  // Client tags alone (an IRC client's typing or reaction): the page shows none of them.
  tagmsg() {},

  pong(ev, pending) {
    if (!pending) return;
    const ms = Math.round(Date.now() - pending.sent);
    say(convOf(pending.conv), `pong from the server in ${ms} ms`, "notice", ev.ts);
  },
};

// -- rooms run by their operators -------------------------------------------

const whose = (name) => (isMe(name) ? "your" : `${name}'s`);

// op, deop, voice, devoice from someone else: the mark under People changes.
function rankEvent(set, on, words) {
  return (ev) => {
    const conv = roomOf(ev);
    if (!conv || typeof ev.user !== "string") return;
    if (on) conv[set].add(key(ev.user));
    else conv[set].delete(key(ev.user));
    say(conv, words(ev), isMe(ev.user) ? "notice" : "sys", ev.ts);
    if (conv.key === state.current) renderMembers();
  };
}

// ban, unban, mute, unmute: said in the room (a ban of someone in it is
// followed by their kick, which puts them out).
function restrictionEvent(words) {
  return (ev) => {
    const conv = roomOf(ev);
    if (conv) say(conv, words(ev), isMe(ev.user) ? "warning" : "sys", ev.ts);
  };
}

// What our own op, deop, kick, ban, topic or mode change did, from the
// server's ok (the events about it go to everyone else).
function ownChange(action, conv, ev) {
  const k = typeof ev.user === "string" ? key(ev.user) : null;
  if (action === "topic") setTopic(conv, ev.topic, state.me);
  else if (action === "mode" && ev.modes && typeof ev.modes === "object") conv.modes = ev.modes;
  else if (k && action === "op") conv.ops.add(k);
  else if (k && action === "deop") conv.ops.delete(k);
  else if (k && action === "voice") conv.voiced.add(k);
  else if (k && action === "devoice") conv.voiced.delete(k);
  else if (k && (action === "kick" || action === "ban")) dropMember(conv, k);
  if (conv.key === state.current) renderMembers();
}

// old is now called new in a room: its entry, its mark. Whether old was there.
function renameIn(conv, old, name) {
  const from = key(old);
  const to = key(name);
  if (!conv.members.has(from)) return false;
  conv.members.delete(from);
  conv.members.set(to, name);
  for (const set of [conv.ops, conv.voiced]) {
    if (set.delete(from)) set.add(to);
  }
  return true;
}

// A private conversation with someone who renamed goes on under the new
// name (unless one under that name is open already).
function renamePrivate(old, name, ts) {
  const from = key(old);
  const to = key(name);
  if (state.online.delete(from)) state.online.add(to);
  if (state.openMenu === from) state.openMenu = to;
  const conv = state.conversations.get(from);
  if (!conv || conv.kind !== "private") return;
  if (from !== to && state.conversations.has(to)) return;
  state.conversations.delete(from);
  conv.key = to;
  conv.name = name;
  conv.list.setAttribute("aria-label", `Messages in ${name}`);
  state.conversations.set(to, conv);
  if (state.current === from) {
    state.current = to;
    ui.title.textContent = name;
    ui.input.placeholder = `Message ${name} privately`;
  }
  say(conv, `${old} is now known as ${name}`, "sys", ts);
}

// We are called name now (/nick, here or on another device): the page's
// own name, the one it logs in with after a reconnect, and our entry in
// every room.
function renamed(old, name) {
  state.me = name;
  state.name = name;
  ui.me.textContent = name;
  try {
    localStorage.setItem("tchat.name", name);
  } catch {
    // storage may be off; the name is only a convenience
  }
  for (const conv of state.conversations.values()) if (conv.kind === "room") renameIn(conv, old, name);
  if (state.online.delete(key(old))) state.online.add(key(name));
  renderConversations();
  renderMembers();
}

// "40 s", "12 min", "3 h", "2 d".
function seconds(n) {
  if (n < 60) return `${Math.round(n)} s`;
  if (n < 3600) return `${Math.round(n / 60)} min`;
  if (n < 86400) return `${Math.round(n / 3600)} h`;
  return `${Math.round(n / 86400)} d`;
}

// -- logging in, dropping, coming back ---------------------------------------

function loginFailed(ev) {
  state.loggingIn = false;
  const byPassword = ["password_required", "bad_password", "weak_password"].includes(ev.code) || (ev.code === "rate_limited");
  if (state.loggedIn) {
    if (ev.code === "name_taken") {
      // The server has not noticed yet that our old connection is gone.
      state.conn.close();
      scheduleReconnect("your old connection still holds the name");
      return;
    }
    logOut(ev.text);
  }
  ui.login.hidden = false;
  ui.chat.hidden = true;
  ui.loginButton.disabled = false;
  (byPassword ? ui.loginPasswordError : ui.loginNameError).textContent = ev.text;
  (byPassword ? ui.loginPassword : ui.loginName).setAttribute("aria-invalid", "true");
  (byPassword ? ui.loginPassword : ui.loginName).focus();
}

function onClose() {
  state.conn = null;
  state.pending.clear();
  if (state.stayOut) {
    const why = state.stayOut;
    logOut(why === "quit" ? "" : why);
    return;
  }
  if (!state.loggedIn) {
    // The first look from the login screen may fail or be cut quietly;
    // only a login the person asked for says why it failed.
    if (state.loggingIn) {
      state.loggingIn = false;
      ui.loginButton.disabled = false;
      ui.loginNameError.textContent = state.lastBye
        ? `The server closed the connection: ${state.lastBye}`
        : "Cannot reach the chat server. Try again in a moment.";
    }
    state.lastBye = null;
    return;
  }
  const bye = state.lastBye;
  state.lastBye = null;
  if (!state.reconnecting) {
    // Said once, where the person is reading, not again for each failed try.
    say(currentConv(), `Disconnected: ${bye || "the connection was lost"}`, "lost");
  }
  scheduleReconnect(`connection lost${bye ? `: ${bye}` : ""}`);
}

// What the page knew of who is online and in which room goes with the
// connection: after it, logged_in and the answers to users tell again.
function forgetPresence() {
  state.online.clear();
  for (const conv of state.conversations.values()) {
    conv.members.clear();
    conv.ops.clear();
    conv.voiced.clear();
    conv.membersAsked = false;
    conv.presenceAsked = false;
  }
  renderConversations();
  renderMembers();
}

function scheduleReconnect(why) {
  const first = !state.reconnecting;
  if (first) {
    state.reconnecting = true;
    forgetPresence();
  }
  const delay = state.backoff.next();
  let left = Math.ceil(delay);
  const tell = (announce) => setStatus(`${capitalize(why)}. Reconnecting in ${left} s…`, { look: "lost", action: true, announce });
  tell(first); // heard once when the connection goes, not again at each failed try
  clearInterval(state.countdownTimer);
  state.countdownTimer = setInterval(() => {
    left = Math.max(0, left - 1);
    tell(false); // the countdown is for the eyes; one announcement is enough
  }, 1000);
  clearTimeout(state.retryTimer);
  state.retryTimer = setTimeout(retryNow, delay * 1000);
}

// Try again now, not at the end of the wait: when the time is up, when the
// person asks, or when the browser says the network or the tab is back
// (a laptop waking up, a phone back in coverage), since that is when a
// try is likely to work. connect() may fail at once; onClose then
// schedules the next try.
function retryNow() {
  if (!state.reconnecting || (state.conn && !state.conn.closed)) return; // no wait, or a try under way
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  state.retryTimer = null;
  setStatus("Reconnecting…", { look: "connecting", announce: false });
  connect();
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function logOut(message) {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  if (state.conn) state.conn.close();
  state.conn = null;
  state.me = null;
  state.registered = false;
  state.loggedIn = false;
  state.reconnecting = false;
  state.stayOut = null;
  state.password = null;
  state.pending.clear();
  for (const conv of state.conversations.values()) conv.list.remove();
  state.conversations.clear();
  state.current = null;
  state.invites.clear();
  state.openMenu = null;
  renderInvites();
  state.backoff.reset();
  ui.chat.hidden = true;
  ui.login.hidden = false;
  ui.loginButton.disabled = false;
  ui.loginNameError.textContent = message || "";
  setStatus(null);
  renderTitle();
  ui.loginName.focus();
}

// The banner at the top, for the connection. Each state has its own look
// (style.css: .status[data-look]), so that "lost" and "back" cannot be
// mistaken at a glance; the words say it too, and the live region reads
// them out.
function setStatus(text, { look = "info", action = false, clearAfter = 0, announce = true } = {}) {
  clearTimeout(state.statusTimer);
  if (!text) {
    ui.status.hidden = true;
    return;
  }
  ui.status.dataset.look = look;
  ui.statusText.textContent = text;
  if (announce) ui.announcer.textContent = text;
  ui.statusAction.hidden = !action;
  ui.status.hidden = false;
  if (clearAfter) state.statusTimer = setTimeout(() => setStatus(null), clearAfter);
}

// -- what people do on the page -----------------------------------------------

ui.loginForm.addEventListener("submit", (e) => {
  e.preventDefault();
  ui.loginNameError.textContent = "";
  ui.loginPasswordError.textContent = "";
  ui.loginName.removeAttribute("aria-invalid");
  ui.loginPassword.removeAttribute("aria-invalid");
  const name = ui.loginName.value.trim();
  if (!name) {
    ui.loginNameError.textContent = "Type the name you want to be known by.";
    ui.loginName.setAttribute("aria-invalid", "true");
    ui.loginName.focus();
    return;
  }
  state.name = name;
  state.password = ui.loginPassword.value || null;
  state.stayOut = null;
  state.loggingIn = true;
  ui.loginButton.disabled = true;
  connect();
});

ui.statusAction.addEventListener("click", retryNow);
window.addEventListener("online", retryNow);

function runLocal(result, conv) {
  switch (result.local) {
    case "clear":
      if (conv) {
        conv.list.replaceChildren();
        conv.msgids.clear();
      }
      return;
    case "close":
      if (conv) forget(conv);
      return;
    case "room": {
      const room = state.conversations.get(key(result.room));
      if (room && room.joined) show(room);
      else say(conv, `you are not in ${result.room}; /join ${result.room} first`, "error");
      return;
    }
  }
}

ui.sendForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const line = ui.input.value;
  const conv = currentConv();
  const result = commands.parseInput(line, { current: conv ? conv.name : null });
  if (!result) return;
  state.typed.push(line); // the up arrow brings it back, to fix a mistake
  state.typedAt = state.typed.length;
  if (result.error) {
    ui.input.value = "";
    say(conv, result.error, "error");
    return;
  }
  if (result.local) {
    ui.input.value = "";
    runLocal(result, conv);
    return;
  }
  if (!state.conn || !state.conn.open) {
    say(conv, "Not connected, so not sent. The page reconnects by itself; try again then.", "error");
    return;
  }
  const req = result.send;
  if (req.action === "quit") state.stayOut = "quit";
  request(req, { typed: true, line, sent: Date.now() });
  ui.input.value = "";
});

ui.input.addEventListener("keydown", (e) => {
  if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
  if (!state.typed.length) return;
  if (e.key === "ArrowUp") state.typedAt = Math.max(0, state.typedAt - 1);
  else state.typedAt = Math.min(state.typed.length, state.typedAt + 1);
  ui.input.value = state.typed[state.typedAt] || "";
  e.preventDefault();
});

ui.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  let room = ui.joinRoom.value.trim();
  if (!room) {
    ui.joinError.textContent = "Type a room name, like #dev.";
    return;
  }
  if (!room.startsWith("#")) room = `#${room}`;
  const existing = state.conversations.get(key(room));
  if (existing && existing.joined) {
    ui.joinRoom.value = "";
    show(existing);
    return;
  }
  ui.joinError.textContent = "";
  if (request({ action: "join", room }, { type: "join-form" }) === null) ui.joinError.textContent = "Not connected; try again in a moment.";
});

function onListClick(e) {
  const button = e.target.closest("button.conv");
  if (!button) return;
  const conv = state.conversations.get(button.dataset.key);
  if (conv) show(conv);
}
ui.roomList.addEventListener("click", onListClick);
ui.privateList.addEventListener("click", onListClick);

ui.memberList.addEventListener("click", (e) => {
  const item = e.target.closest("button.menu-item");
  if (item) {
    runMemberAction(item.dataset.action, item.dataset.name);
    return;
  }
  const button = e.target.closest("button.member-button");
  if (!button) return;
  const conv = conversation(button.dataset.name, "private");
  renderConversations();
  show(conv);
});

// A person's menu under People: one open at a time, and it stays open while
// the list is drawn again (someone joins, a mark changes). "toggle" does
// not bubble, so it is heard on the way down.
ui.memberList.addEventListener("toggle", (e) => {
  const menu = e.target;
  if (!(menu instanceof HTMLDetailsElement) || !menu.classList.contains("member-menu")) return;
  const k = key(menu.dataset.name);
  if (menu.open) {
    state.openMenu = k;
    for (const other of ui.memberList.querySelectorAll("details.member-menu[open]")) if (other !== menu) other.open = false;
  } else if (state.openMenu === k) {
    state.openMenu = null;
  }
}, true);

function closeMenus() {
  state.openMenu = null;
  for (const menu of ui.memberList.querySelectorAll("details.member-menu[open]")) menu.open = false;
}

document.addEventListener("click", (e) => {
  if (state.openMenu !== null && !(e.target instanceof Element && e.target.closest("details.member-menu"))) closeMenus();
});

// What a person's menu does: the request, for the open room and that
// person. The server checks that we may; its refusal (not_op, not_allowed)
// is shown in the room.
function runMemberAction(action, name) {
  const conv = currentConv();
  closeMenus();
  if (!conv || !name) return;
  const req = action === "whois" ? { action, user: name } : { action, room: conv.name, user: name };
  if (request(req, { type: "member-menu" }) === null) say(conv, "Not connected, so not sent. The page reconnects by itself; try again then.", "error");
}

ui.leave.addEventListener("click", () => {
  const conv = currentConv();
  if (!conv) return;
  if (conv.kind === "private" || !conv.joined) forget(conv); // a room we are out of (kicked) is only closed
  else request({ action: "part", room: conv.name }, { typed: true });
});

ui.rejoin.addEventListener("click", () => {
  const conv = currentConv();
  if (!conv || conv.kind !== "room") return;
  if (request({ action: "join", room: conv.name }, { type: "join-again" }) === null) {
    say(conv, "Not connected; try again in a moment.", "error");
  }
});

ui.invites.addEventListener("click", (e) => {
  const button = e.target.closest("button");
  if (!button || !button.dataset.room) return;
  const k = key(button.dataset.room);
  if (button.classList.contains("invite-dismiss")) {
    state.invites.delete(k);
    renderInvites();
    return;
  }
  if (button.classList.contains("invite-join")) {
    const invite = state.invites.get(k);
    if (invite) invite.error = null;
    if (request({ action: "join", room: button.dataset.room }, { type: "invite", room: k }) === null) {
      if (invite) invite.error = "Not connected; try again in a moment.";
    }
    renderInvites();
  }
});

ui.older.addEventListener("click", () => {
  const conv = currentConv();
  if (conv) loadHistory(conv, true);
});

ui.messages.addEventListener("scroll", () => {
  const conv = currentConv();
  if (conv && conv.more && ui.messages.scrollTop < 40) loadHistory(conv, true);
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) retryNow();
  const conv = currentConv();
  if (!document.hidden && conv && conv.unread) {
    conv.unread = 0;
    renderConversations();
  }
});

// Phone width: the room list and the people list slide over the messages.
function togglePanel(panel, button, open) {
  const other = panel === ui.roomsPanel ? [ui.peoplePanel, ui.togglePeople] : [ui.roomsPanel, ui.toggleRooms];
  other[0].classList.remove("open");
  other[1].setAttribute("aria-expanded", "false");
  panel.classList.toggle("open", open);
  button.setAttribute("aria-expanded", String(open));
  ui.scrim.hidden = !open;
  if (open) {
    const first = panel.querySelector("button, input");
    if (first) first.focus();
  }
}

function closePanels() {
  for (const [panel, button] of [[ui.roomsPanel, ui.toggleRooms], [ui.peoplePanel, ui.togglePeople]]) {
    panel.classList.remove("open");
    button.setAttribute("aria-expanded", "false");
  }
  ui.scrim.hidden = true;
}

ui.toggleRooms.addEventListener("click", () => togglePanel(ui.roomsPanel, ui.toggleRooms, !ui.roomsPanel.classList.contains("open")));
ui.togglePeople.addEventListener("click", () => togglePanel(ui.peoplePanel, ui.togglePeople, !ui.peoplePanel.classList.contains("open")));
ui.scrim.addEventListener("click", closePanels);
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  if (state.openMenu !== null) {
    const open = ui.memberList.querySelector("details.member-menu[open] summary");
    closeMenus();
    if (open) open.focus();
    return;
  }
  if (!ui.scrim.hidden) closePanels();
});

try {
  ui.loginName.value = localStorage.getItem("tchat.name") || "";
} catch {
  // no storage: start empty
}
ui.loginName.focus();
// The server's command table, to read what is typed (commands.js); it keeps
// trying until it has it.
commands.load();
// A first look at the server, for its name and message of the day on the
// login screen (the welcome event); it lets go once they are in.
connect();
