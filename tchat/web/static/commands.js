// What a person types in the message box, turned into tchat JSON requests.
//
// There is one command table: the server's (tchat/commands/table.py). The page
// fetches it once, as /protocol.json (load()), and reads a typed line with
// it exactly as the server's parse_text reads a line typed on a terminal:
// the same words and aliases, arguments, "quoted words", and error texts
// (parseCommand()). parseInput() then turns what was read into what the
// page does, filling in what only the page knows (the open conversation).
// It returns one of
//   {send: REQUEST}                  a request for the server
//   {send: REQUEST, open: NAME}      ... and open NAME's conversation
//   {local: "clear" | "room" | "close", ...}   something the page does itself
//   {error: TEXT}                    a mistake, shown to the person only
//   null                             nothing to do (a blank line)
//
// Until the table has come, plain lines, //lines and the page's own
// commands work, and any other /command says that the commands are not
// loaded yet. A failed fetch is tried again after 1, 2, 4, then every 5
// seconds, and at once when asked (retry(): the page asks when its
// WebSocket opens, since the server is reachable then).

const HISTORY_LIMIT = 50;
const TABLE_URL = "/protocol.json";
const RETRY_SECONDS = [1, 2, 4, 5];

// -- the page's own commands ------------------------------------------------
// Rows in the shape of /protocol.json's, read the same way; the server has
// no such command. (/room and /history are the server's, read with its
// table; the page carries them out itself: see ON_PAGE below.)

const PAGE_ONLY = [
  {
    action: "clear",
    summary: "clear the open conversation on this page (nothing is deleted)",
    fields: [],
    forms: [{ words: ["clear"], usage: "/clear", summary: "", fixed: {}, args: [] }],
  },
];

// What /help adds for the page: what the server's /room and /history do
// here, then the page's own commands.
const PAGE_HELP = [
  ["room", "open a room you are in"],
  ["history", "load the last N messages of a room or a private conversation"],
];

// -- loading the server's table ---------------------------------------------

let words = wordsOf([]); // word -> {command, form}; the page's own only, until the table comes
let loaded = false;
let loading = false;
let failures = 0;
let retryTimer = null;
let markReady;

// Resolves once the server's table is in use.
export const ready = new Promise((resolve) => {
  markReady = resolve;
});

export function isLoaded() {
  return loaded;
}

// Fetch the table (once; while a fetch is under way or done, nothing more).
export function load(url = TABLE_URL) {
  if (loaded || loading) return ready;
  clearTimeout(retryTimer);
  retryTimer = null;
  loading = true;
  fetch(url, { cache: "no-cache" })
    .then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    })
    .then((table) => {
      use(table);
      loading = false;
    })
    .catch((e) => {
      loading = false;
      const wait = RETRY_SECONDS[Math.min(failures, RETRY_SECONDS.length - 1)];
      failures += 1;
      console.warn(`tchat: could not load the commands from ${url} (${e.message}); trying again in ${wait} s`);
      retryTimer = setTimeout(() => load(url), wait * 1000);
    });
  return ready;
}

// Try again now, if the table is not in use and no fetch is under way.
export function retry() {
  if (!loaded && !loading) load();
}

// Read with this table (the shape of /protocol.json) from now on.
function use(table) {
  if (!table || !Array.isArray(table.commands)) throw new Error("not a command table");
  words = wordsOf(table.commands);
  loaded = true;
  markReady();
}

// Every word of every form, as the server's TEXT_WORDS: in the table's order,
// a later row taking a word from an earlier one. The page's own come last,
// so a word of theirs is always theirs.
function wordsOf(commands) {
  const map = new Map();
  for (const command of [...commands, ...PAGE_ONLY]) {
    for (const form of command.forms || []) {
      for (const word of form.words) map.set(word, { command, form });
    }
  }
  return map;
}

// The /help lines the page adds to the server's: {usage, text}.
export function pageHelp() {
  const lines = [];
  for (const [word, text] of PAGE_HELP) {
    const found = words.get(word);
    if (found && !PAGE_ONLY.includes(found.command)) lines.push({ usage: found.form.usage, text });
  }
  for (const command of PAGE_ONLY) {
    for (const form of command.forms) lines.push({ usage: form.usage, text: form.summary || command.summary });
  }
  return lines;
}

// -- reading a line as parse_text does --------------------------------------

// Python's str.isspace(): what strip() and rstrip() take away.
const PY_SPACES = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);
const isSpace = (s, i) => PY_SPACES.has(s.charCodeAt(i));

function rstrip(s) {
  let end = s.length;
  while (end > 0 && isSpace(s, end - 1)) end -= 1;
  return s.slice(0, end);
}

function strip(s) {
  s = rstrip(s);
  let start = 0;
  while (start < s.length && isSpace(s, start)) start += 1;
  return s.slice(start);
}

const lstripSpaces = (s) => s.replace(/^ +/, ""); // lstrip(" ")

// str.partition(" "): before the first space, and after it.
function partition(s) {
  const i = s.indexOf(" ");
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
}

// str.isdigit(): decimal digits of any script, and the other characters
// Python counts as digits (superscripts, circled digits, ...), which int()
// then refuses all the same.
const DIGITS = /^[\p{Nd}\u00b2\u00b3\u00b9\u1369-\u1371\u19da\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468\u2474-\u247c\u2488-\u2490\u24ea\u24f5-\u24fd\u24ff\u2776-\u277e\u2780-\u2788\u278a-\u2792\u{10a40}-\u{10a43}\u{10e60}-\u{10e68}\u{11052}-\u{1105a}\u{1f100}-\u{1f10a}]+$/u;
const isDigits = (s) => DIGITS.test(s);

// The tests an optional argument may put to its word (protocol_table()'s
// "accepts"). A test the page does not know takes any word: the server then
// says what is wrong with the request.
const ACCEPTS = {
  room: (word) => word.startsWith("#"),
  number: isDigits,
  not_number: (word) => !isDigits(word),
};

// A decimal digit's value: the digits of a script are ten in a row, 0 first.
function digitValue(ch) {
  const c = ch.codePointAt(0);
  let before = 0;
  while (/\p{Nd}/u.test(String.fromCodePoint(c - before - 1))) before += 1;
  return before % 10;
}

// Python's int() of a word: spaces around, a sign, digits of any script,
// single _ between digits. NaN if it is not one.
function pyInt(text) {
  const m = strip(text).match(/^([+-]?)(\p{Nd}+(?:_\p{Nd}+)*)$/u);
  if (!m) return NaN;
  const value = Number(m[1] + [...m[2].replace(/_/g, "")].map(digitValue).join(""));
  return value === 0 ? 0 : value; // no -0
}

// Python's repr() of a string, as the server's error texts quote a word.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;
const hex = (n, width) => n.toString(16).padStart(width, "0");

function pyRepr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch !== " " && UNPRINTABLE.test(ch)) out += c < 0x100 ? "\\x" + hex(c, 2) : c < 0x10000 ? "\\u" + hex(c, 4) : "\\U" + hex(c, 8);
    else out += ch;
  }
  return out + quote;
}

class BadRequest extends Error {
  constructor(code, text) {
    super(text);
    this.code = code;
    this.text = text;
  }
}

const bad = (text) => new BadRequest("bad_request", text);

// The next word and what follows it; a word in double quotes may hold
// spaces, and inside quotes \" is a quote and \\ a backslash.
function nextWord(text, form) {
  if (!text.startsWith('"')) return partition(text);
  let chars = "";
  let i = 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\" && i + 1 < text.length && (text[i + 1] === '"' || text[i + 1] === "\\")) {
      chars += text[i + 1];
      i += 2;
      continue;
    }
    if (ch === '"') {
      if (i + 1 < text.length && text[i + 1] !== " ") break;
      return [chars, text.slice(i + 1)];
    }
    chars += ch;
    i += 1;
  }
  throw bad(`a quote is not closed; usage: ${form.usage}`);
}

// Durations and mode changes, read exactly as tchat/commands/values.py reads them.
const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };
const DURATION_MAX = 366 * 24 * 3600;
const ASCII_DIGITS = /^[0-9]+$/;

function parseDuration(value) {
  const text = strip(value);
  if (!text) throw new Error("a duration is a number of seconds, or like 10m, 2h, 7d");
  const chars = [...text];
  const unit = UNITS[chars[chars.length - 1].toLowerCase()];
  const number = unit !== undefined ? chars.slice(0, -1).join("") : text;
  if (!ASCII_DIGITS.test(number) || number.length > 9) {
    throw new Error(`${pyRepr(value)} is not a duration: give seconds, or like 10m, 2h, 7d`);
  }
  const seconds = Number(number) * (unit || 1);
  if (seconds < 1 || seconds > DURATION_MAX) throw new Error("a duration is from 1 second to 366 days");
  return seconds;
}

const MODE_FIELDS = ["moderated", "invite_only", "key", "limit", "topic_locked", "history", "secret", "members_only"];
const FLAG_LETTERS = { m: "moderated", i: "invite_only", t: "topic_locked", s: "secret", n: "members_only" };
const KEY_MAX = 64;
const LIMIT_MAX = 100000;

function parseModes(value) {
  const changes = {};
  const tokens = value.split(" ").filter((t) => t);
  if (!tokens.length) throw new Error("no modes given: like +m -i +k KEY +l 10 +t +H");
  let i = 0;
  while (i < tokens.length) {
    const token = tokens[i];
    i += 1;
    if (!"+-".includes(token[0]) || [...token].length < 2) {
      throw new Error(`${pyRepr(token)} is not a mode: modes are like +m -i +k KEY +l 10`);
    }
    let sign = true;
    for (const letter of token) {
      if (letter === "+" || letter === "-") sign = letter === "+";
      else if (Object.hasOwn(FLAG_LETTERS, letter)) changes[FLAG_LETTERS[letter]] = sign;
      // (a mode's value, not a command word: the server's /all alias is another thing)
      else if (letter === "H") changes.history = sign ? "since_join" : 'all';
      else if (letter === "k") {
        if (sign) {
          if (i >= tokens.length) throw new Error("+k needs the key: +k KEY");
          changes.key = tokens[i];
          i += 1;
        } else changes.key = null;
      } else if (letter === "l") {
        if (sign) {
          if (i >= tokens.length || !ASCII_DIGITS.test(tokens[i])) throw new Error("+l needs the most members, a number: +l 50");
          changes.limit = Number(tokens[i]);
          i += 1;
        } else changes.limit = null;
      } else throw new Error(`unknown mode ${pyRepr(letter)}: tchat has +m +i +k +l +t +s +n +H`);
    }
  }
  if (!Object.keys(changes).length) throw new Error(`no modes given: one of ${MODE_FIELDS.join(", ")}`);
  // Checked in the order given, as the server checks them.
  for (const [name, v] of Object.entries(changes)) {
    if (name === "key" && v !== null && ([...v].length > KEY_MAX || [...v].some((ch) => UNPRINTABLE.test(ch)) || v.includes(","))) {
      throw new Error(`a key is one word of at most ${KEY_MAX} characters, without commas`);
    }
    if (name === "limit" && v !== null && (v < 1 || v > LIMIT_MAX)) {
      throw new Error(`limit is the most members, from 1 to ${LIMIT_MAX}, or null to remove it`);
    }
  }
  return changes;
}

const CONVERTERS = { duration: parseDuration, modes: parseModes };

function convert(value, kind, form) {
  if (Object.hasOwn(CONVERTERS, kind)) {
    try {
      return CONVERTERS[kind](value);
    } catch (e) {
      throw bad(`${e.message}; usage: ${form.usage}`);
    }
  }
  if (kind !== "int") return value;
  const number = pyInt(value);
  if (Number.isNaN(number)) throw bad(`${pyRepr(value)} is not a number; usage: ${form.usage}`);
  return number;
}

// A typed line read as the server's parse_text reads it: null for a blank
// line, {action, args} (the action "line" for a line that is not a
// command), or {error: {code, text}}, the server's own words.
export function parseCommand(line) {
  try {
    return readLine(line);
  } catch (e) {
    if (e instanceof BadRequest) return { error: { code: e.code, text: e.text } };
    throw e;
  }
}

function readLine(line) {
  if (!strip(line)) return null;
  if (!line.startsWith("/") || line.startsWith("//")) {
    return { action: "line", args: { text: line.startsWith("//") ? line.slice(1) : line } };
  }
  let [head, rest] = partition(line.slice(1));
  let word = strip(head).toLowerCase();
  const [second, afterSecond] = partition(lstripSpaces(rest));
  if (words.has(`${word} ${second.toLowerCase()}`)) {
    // Two-word commands: /contact add NAME
    word = `${word} ${second.toLowerCase()}`;
    rest = afterSecond;
  }
  const found = words.get(word);
  if (!found) {
    if (!loaded) {
      throw new BadRequest("not_loaded",
        `the page has not got the list of commands from the server yet, so it cannot read /${head}; ` +
        "it keeps trying. Plain messages can be sent meanwhile.");
    }
    // "/contact" alone, or "/account frob": say how two-word commands go.
    const forms = [...words].filter(([w, f]) => w.startsWith(word + " ") && w === f.form.words[0]).map(([, f]) => f.form);
    if (forms.length) throw bad("usage: " + forms.map((f) => f.usage).join(", "));
    throw new BadRequest("unknown_command", `unknown command /${head}; /help lists the commands`);
  }
  const { command, form } = found;
  const args = { ...(form.fixed || {}) };
  const kinds = new Map((command.fields || []).map((f) => [f.name, f.kind]));
  let skipped = null;
  for (const arg of form.args || []) {
    rest = lstripSpaces(rest);
    let value;
    if (arg.rest) {
      value = rstrip(rest);
      rest = "";
    } else {
      let remaining;
      [value, remaining] = nextWord(rest, form);
      const test = arg.accepts ? ACCEPTS[arg.accepts] : null;
      if (value && arg.optional && test && !test(value)) {
        skipped = [arg, value];
        continue;
      }
      rest = remaining;
    }
    if (!value) {
      if (arg.optional) continue;
      throw bad(`missing ${arg.meta}; usage: ${form.usage}`);
    }
    args[arg.field] = convert(value, kinds.get(arg.field) || "str", form);
  }
  if (strip(rest)) {
    if (skipped && strip(rest).startsWith(skipped[1])) {
      const [arg, value] = skipped;
      const what = kinds.get(arg.field) === "int" ? "a number" : `a ${arg.meta}`;
      throw bad(`${arg.meta} must be ${what}, not ${pyRepr(value)}; usage: ${form.usage}`);
    }
    throw bad(`too many arguments; usage: ${form.usage}`);
  }
  return { action: command.action, args };
}

// -- what the page does with it ---------------------------------------------

function asRoom(name) {
  return name.startsWith("#") ? name : "#" + name;
}

function toCurrent(ctx, request) {
  if (!ctx.current) return { error: "open a room or a conversation first" };
  return { send: { ...request, to: ctx.current } };
}

function part({ room, reason }, ctx) {
  if (!room) {
    if (!ctx.current) return { error: "name the room to leave: /part #room" };
    if (!ctx.current.startsWith("#")) return { local: "close" };
    room = ctx.current;
  }
  return { send: reason ? { action: "part", room, reason } : { action: "part", room } };
}

function history({ target, limit }, ctx) {
  target = target || ctx.current;
  if (!target) return { error: "name a room or a person: /history #room" };
  return { send: { action: "history", target, limit: limit === undefined ? HISTORY_LIMIT : limit }, open: target };
}

// A room's commands (its topic, its operators, kicks, bans, mutes,
// invitations, modes) name the room, or mean the current one. A terminal's
// current room is the server's idea, which on the page need not be the room
// on screen: the page names the open room, so that /kick bob puts bob out
// of the room one is looking at. (An admin's /kick NAME without a room is
// the server-wide disconnect on a terminal; on the page that is /kill.)
const ROOM_ACTIONS = ["topic", "op", "deop", "voice", "devoice", "kick", "ban", "unban", "bans", "mute", "unmute", "invite", "mode"];

function inOpenRoom(action) {
  return (args, ctx) => {
    if (args.room) return { send: { action, ...args } };
    if (!ctx.current || !ctx.current.startsWith("#")) return { error: "open a room first, or name one (like #dev)" };
    return { send: { action, ...args, room: ctx.current } };
  };
}

// Where the page does more than send what was read: a terminal's text door
// fills in the current room itself, the page names the open conversation;
// and a few are the page's to carry out. Any other action is sent as read.
const ON_PAGE = {
  ...Object.fromEntries(ROOM_ACTIONS.map((action) => [action, inOpenRoom(action)])),
  line: ({ text }, ctx) => toCurrent(ctx, { action: "msg", text }),
  msg: (args, ctx) => (args.to ? { send: { action: "msg", ...args }, open: args.to } : toCurrent(ctx, { action: "msg", ...args })),
  join: ({ room }) => ({ send: { action: "join", room: asRoom(room) } }),
  part,
  room: ({ room }) => ({ local: "room", room: asRoom(room) }),
  history,
  clear: () => ({ local: "clear" }),
};

export function parseInput(line, ctx) {
  const read = parseCommand(line);
  if (read === null) return null;
  if (read.error) return { error: read.error.text };
  const onPage = ON_PAGE[read.action];
  return onPage ? onPage(read.args, ctx) : { send: { action: read.action, ...read.args } };
}
