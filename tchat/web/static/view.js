// Building the page's pieces from chat data.
//
// Every piece of text that came from the server or from a person is put in
// the page with textContent (or as a text node), never as HTML, so names and
// messages holding <script>, <img onerror=...> or any markup stay text.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// "14:03" today; "12 Nov 14:03" (in the reader's locale) on other days.
export function clock(ts) {
  const when = new Date(ts * 1000);
  const hhmm = `${pad(when.getHours())}:${pad(when.getMinutes())}`;
  if (sameDay(when, new Date())) return hhmm;
  return `${when.toLocaleDateString(undefined, { day: "numeric", month: "short" })} ${hhmm}`;
}

export function timeElement(ts) {
  const time = el("time", "time", clock(ts));
  const when = new Date(ts * 1000);
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString();
  return time;
}

// The same colour for a name everywhere: one of 12 classes (style.css gives
// each a colour readable on both the light and the dark theme).
export function colorClass(name) {
  let hash = 0x811c9dc5; // FNV-1a
  for (const ch of name.toLowerCase()) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return `c${hash % 12}`;
}

const LINK = /\bhttps?:\/\/[^\s<>"'`]+[^\s<>"'`.,;:!?)\]}]/g;

// Text, with web addresses made into links (http and https only). Its
// direction is its own (dir="auto" also isolates it), so right-to-left text
// cannot reorder the name or the time beside it.
export function richText(text, className) {
  const span = el("span", className);
  span.dir = "auto";
  let at = 0;
  for (const match of text.matchAll(LINK)) {
    let url;
    try {
      url = new URL(match[0]);
    } catch {
      continue;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    span.append(document.createTextNode(text.slice(at, match.index)));
    const a = el("a", null, match[0]);
    a.href = url.href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    span.append(a);
    at = match.index + match[0].length;
  }
  span.append(document.createTextNode(text.slice(at)));
  return span;
}

// A name as the server compares names: in one Unicode form (NFC), without
// case. The server uses Python's casefold(); upper then lower case comes
// close to it in JavaScript (ß and SS both become ss, ς and Σ both σ).
export function fold(name) {
  return name.normalize("NFC").toUpperCase().toLowerCase().normalize("NFC");
}

// The characters names are made of (tchat/names.py): letters, combining
// marks, decimal digits, "_", "-" and ".".
const NAME_RUN = /[\p{L}\p{M}\p{Nd}_.\-]+/gu;

// Whether text mentions name: the name is a whole run of name characters in
// the text, so "nice" or "ice_cream" do not mention ice, but "@ice" and
// "ice," do. A name may hold "." and "-", and so may a sentence: "ice." at
// the end of one is ice ("ice.cream" is someone else). No name starts with
// "-", so one before a name is a dash.
export function mentions(text, name) {
  const wanted = fold(name || "");
  if (!text || !wanted) return false;
  for (const [run] of text.normalize("NFC").matchAll(NAME_RUN)) {
    let word = run.replace(/^-+/, "");
    for (;;) {
      if (fold(word) === wanted) return true;
      if (!/[.-]$/.test(word)) break;
      word = word.slice(0, -1);
    }
  }
  return false;
}

export const GUEST_TITLE = "guest: anyone may use this name";

// Who sent a message. The server marks a message from someone logged in to a
// registered account with registered: true; any other sender is a guest,
// whose name proves nothing, and is shown behind "~" (IRC's mark for an
// identity nobody checked, which no name may hold), as the terminal shows it.
// Only a JSON true counts as an account.
export function senderName(m) {
  const from = el("span", `from ${colorClass(m.from)}`);
  from.dir = "auto";
  if (m.registered !== true) {
    from.classList.add("guest");
    from.title = GUEST_TITLE;
    from.append(el("span", "guest-mark", "~"));
  }
  from.append(document.createTextNode(m.from));
  return from;
}

// One message: time, who, text; an action (/me) reads "* alice waves"
// ("* ~alice waves" from a guest).
//
// status is for one's own private message that did not reach its reader:
// "waiting" (the server keeps it for an account that is away) or "unsent"
// (nobody by that name is there to get it, nor will be).
export function messageItem(m, { own = false, me = null, status = null } = {}) {
  const item = el("li", "msg");
  item.dataset.ts = String(m.ts);
  if (m.msgid) item.dataset.msgid = m.msgid;
  if (own) item.classList.add("own");
  if (m.kind === "action") item.classList.add("action");
  if (m.kind === "private") item.classList.add("private");
  if (m.delayed) item.classList.add("delayed");
  const inRoom = typeof m.to === "string" && m.to.startsWith("#");
  if (inRoom && !own && me && mentions(m.text, me)) item.classList.add("mention");

  // Time in one column, the rest in the next: long lines wrap under the text.
  const body = el("span", "body");
  item.append(timeElement(m.ts), body);
  const from = senderName(m);
  if (m.kind === "action") {
    body.append(el("span", "star", "*"), " ", from, " ", richText(m.text, "text"));
  } else {
    body.append(from, " ", richText(m.text, "text"));
  }
  if (inRoom && (m.only === "op" || m.only === "voice")) {
    const mark = el("span", "mark", m.only === "op" ? "to ops" : "to voiced users and ops");
    mark.title = "only the room's operators" + (m.only === "voice" ? " and voiced users" : "") + " got this message";
    body.append(" ", mark);
  }
  if (m.delayed) {
    const mark = el("span", "mark", "delayed");
    mark.title = `sent ${new Date(m.ts * 1000).toLocaleString()}, while you were away`;
    body.append(" ", mark);
  }
  if (status === "waiting") {
    const mark = el("span", "mark", "waiting");
    mark.title = "the server keeps it for them: they get it when they next log in";
    body.append(" ", mark);
  } else if (status === "unsent") {
    item.classList.add("unsent");
    const mark = el("span", "mark", "not sent");
    mark.title = "nobody got this message";
    body.append(" ", mark);
  }
  return item;
}

// A line from the server or the page itself: joins, answers, errors.
export function systemItem(text, kind = "sys", ts = Date.now() / 1000) {
  const item = el("li", `line ${kind}`);
  item.dataset.ts = String(ts);
  item.append(timeElement(ts), el("span", "body text", text));
  return item;
}

// Whether someone is online, as a dot: true, false, or null when the page
// cannot know (it is not connected).
export function presenceDot(online) {
  const dot = el("span", online === null ? "dot unknown" : online ? "dot on" : "dot off");
  dot.title = online === null ? "not known while disconnected" : online ? "online" : "offline";
  return dot;
}

// A button for the conversation list: name, unread count, online dot.
export function conversationButton(conv, { current, online }) {
  const button = el("button", "conv");
  button.type = "button";
  button.dataset.key = conv.key;
  if (current) button.setAttribute("aria-current", "page");
  if (conv.kind === "private") button.append(presenceDot(online));
  button.append(el("span", "name", conv.name));
  if (conv.kind === "room" && !conv.joined) {
    // Put out of it (a kick, a ban): listed still, with what happened in it.
    button.classList.add("out");
    const mark = el("span", "mark", "out");
    mark.title = "you are not in this room";
    button.append(mark);
  }
  if (conv.unread > 0) {
    const badge = el("span", "badge", conv.unread > 99 ? "99+" : String(conv.unread));
    badge.append(el("span", "visually-hidden", " unread"));
    button.append(badge);
  }
  return button;
}

// A member's rank in a room, as a mark before the name: "@" for an
// operator, "+" for a voiced member (IRC's marks), with words for screen
// readers and a title for the mouse.
const RANKS = {
  op: { mark: "@", words: "operator" },
  voiced: { mark: "+", words: "voiced" },
};

function rankMark(rank, room) {
  const known = RANKS[rank];
  if (!known) return null;
  const mark = el("span", `rank ${rank}`);
  mark.title = room ? `${known.words} of ${room}` : known.words;
  mark.append(el("span", null, known.mark), el("span", "visually-hidden", ` (${known.words})`));
  mark.firstChild.setAttribute("aria-hidden", "true");
  return mark;
}

// The name of someone under People. A name is text of its own direction
// (dir="auto"), so a right-to-left name does not reorder the marks beside it.
function memberName(name) {
  const span = el("span", `name ${colorClass(name)}`, name);
  span.dir = "auto";
  return span;
}

// What the menu of a person under People offers: actions, each
// {action, label}; the page sends {action, room, user} for the one clicked.
// Everyone may ask who someone is; a room's operators also get op or deop,
// kick, ban and mute (the server checks again, and says no if it must).
export function memberActions(name, { rank, moderate }) {
  const actions = [{ action: "whois", label: `About ${name}` }];
  if (moderate) {
    actions.push(
      rank === "op" ? { action: "deop", label: "Take operator rights" } : { action: "op", label: "Make operator" },
      { action: "kick", label: "Kick out of the room" },
      { action: "ban", label: "Ban from the room" },
      { action: "mute", label: "Mute in the room" },
    );
  }
  return actions;
}

// A small menu beside a name: a <details> whose summary is the "⋯" button.
function memberMenu(name, actions, open) {
  const menu = el("details", "member-menu");
  menu.dataset.name = name;
  menu.open = open;
  const summary = el("summary", "menu-button");
  summary.title = `Actions for ${name}`;
  summary.append(el("span", null, "⋯"), el("span", "visually-hidden", `Actions for ${name}`));
  summary.firstChild.setAttribute("aria-hidden", "true");
  const list = el("div", "menu");
  list.setAttribute("role", "group");
  list.setAttribute("aria-label", `Actions for ${name}`);
  for (const { action, label } of actions) {
    const button = el("button", "menu-item", label);
    button.type = "button";
    button.dataset.action = action;
    button.dataset.name = name;
    list.append(button);
  }
  menu.append(summary, list);
  return menu;
}

// One person under People: online dot, rank mark, name; for someone else a
// button that opens a private conversation, and the person's menu.
// rank: "op", "voiced" or null; menu: null, or {moderate, open} (whether the
// actions of a room's operators are offered, and whether it is open).
export function memberItem(name, { me, online, rank = null, room = null, menu = null }) {
  const item = el("li", "member");
  item.dataset.name = name;
  if (rank) item.dataset.rank = rank;
  const dot = presenceDot(online);
  const state = el("span", "visually-hidden", online === null ? "" : online ? " (online)" : " (offline)");
  const mark = rankMark(rank, room);
  if (me) {
    item.classList.add("self");
    item.append(dot, ...(mark ? [mark] : []), memberName(name), el("span", "you", "(you)"), state);
    return item;
  }
  const button = el("button", "member-button");
  button.type = "button";
  button.dataset.name = name;
  button.title = `Talk with ${name} privately`;
  button.append(dot, ...(mark ? [mark] : []), memberName(name), state);
  item.append(button);
  if (menu) item.append(memberMenu(name, memberActions(name, { rank, moderate: menu.moderate }), Boolean(menu.open)));
  return item;
}

// An invitation to a room: who asks, and buttons to join it or let it be.
export function inviteItem(invite) {
  const item = el("p", "invite");
  item.dataset.room = invite.room;
  const room = el("bdi", "invite-room", invite.room);
  const by = el("bdi", `invite-by ${colorClass(invite.by)}`, invite.by);
  const words = el("span", "invite-text");
  words.append(by, document.createTextNode(" invites you to "), room);
  const join = el("button", "primary invite-join", `Join ${invite.room}`);
  join.type = "button";
  join.dataset.room = invite.room;
  const dismiss = el("button", "link-button invite-dismiss", "Not now");
  dismiss.type = "button";
  dismiss.dataset.room = invite.room;
  item.append(words, join, dismiss);
  if (invite.error) item.append(el("span", "invite-error", invite.error));
  return item;
}

// A room's modes in IRC's letters ("+imt"), from the server's modes object,
// and in words (a title for the letters). The key itself is never shown.
const MODE_WORDS = [
  ["i", "invite_only", "invite-only"],
  ["m", "moderated", "moderated: only operators and voiced people speak"],
  ["n", "members_only", "only members send to it"],
  ["s", "secret", "secret: shown to its members only"],
  ["t", "topic_locked", "only operators set the topic"],
  ["k", "key", "joining needs a key"],
  ["l", "limit", "a limit on members"],
];

export function modeLetters(modes) {
  if (!modes || typeof modes !== "object") return "";
  let letters = "";
  for (const [letter, field] of MODE_WORDS) if (modes[field]) letters += letter;
  if (modes.history === "since_join") letters += "H";
  return letters ? `+${letters}` : "";
}

export function modeWords(modes) {
  if (!modes || typeof modes !== "object") return "";
  const words = [];
  for (const [, field, text] of MODE_WORDS) {
    if (!modes[field]) continue;
    words.push(field === "limit" ? `at most ${modes.limit} members` : text);
  }
  if (modes.history === "since_join") words.push("new members read the history only from their join");
  return words.join("; ");
}

// What a mode event changed, as IRC writes it: "+m -i +l 20 -k".
export function modeChange(set) {
  const parts = [];
  for (const [field, value] of Object.entries(set || {})) {
    const letter = { moderated: "m", invite_only: "i", topic_locked: "t", key: "k", limit: "l", history: "H", secret: "s", members_only: "n" }[field];
    if (!letter) continue;
    if (field === "history") parts.push(value === "since_join" ? "+H" : "-H");
    else if (field === "limit") parts.push(value === null || value === undefined ? "-l" : `+l ${value}`);
    else parts.push(value ? `+${letter}` : `-${letter}`); // a key is never shown: +k alone
  }
  return parts.join(" ");
}

// How long a ban or mute lasts, from its until (Unix time; null: for good).
export function until(ts) {
  if (ts === null || ts === undefined) return "for good";
  return `until ${new Date(ts * 1000).toLocaleString()}`;
}
