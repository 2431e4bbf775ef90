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
  if (conv.unread > 0) {
    const badge = el("span", "badge", conv.unread > 99 ? "99+" : String(conv.unread));
    badge.append(el("span", "visually-hidden", " unread"));
    button.append(badge);
  }
  return button;
}

export function memberItem(name, { me, online }) {
  const item = el("li", "member");
  const dot = presenceDot(online);
  const state = el("span", "visually-hidden", online === null ? "" : online ? " (online)" : " (offline)");
  if (me) {
    item.classList.add("self");
    item.append(dot, el("span", `name ${colorClass(name)}`, name), el("span", "you", "(you)"), state);
    return item;
  }
  const button = el("button", "member-button");
  button.type = "button";
  button.dataset.name = name;
  button.title = `Talk with ${name} privately`;
  button.append(dot, el("span", `name ${colorClass(name)}`, name), state);
  item.append(button);
  return item;
}
