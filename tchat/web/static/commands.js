// What a person types in the message box, turned into tchat JSON requests.
//
// The same /commands as on a terminal (see /help), translated here into the
// JSON actions of the protocol. parseInput() is pure: it gets the line and
// what it needs to know about the page (the open conversation), and returns
// one of
//   {send: REQUEST}                  a request for the server
//   {send: REQUEST, open: NAME}      ... and open NAME's conversation
//   {local: "clear" | "room" | "close", ...}   something the page does itself
//   {error: TEXT}                    a mistake, shown to the person only
//   null                             nothing to do (a blank line)

const HISTORY_LIMIT = 50;

// Each command: its words (the first is shown in help), its arguments, and
// how it becomes a request. An argument ending in "..." takes the rest of
// the line; one in [brackets] may be left out.
export const COMMANDS = [
  { words: ["msg", "para", "to", "w"], args: "NAME TEXT...", help: "send TEXT privately to NAME (or to a #room you are in)",
    build: ([to, text]) => ({ send: { action: "msg", to, text }, open: to }) },
  { words: ["msgall", "all"], args: "TEXT...", help: "send TEXT to the open conversation",
    build: ([text], ctx) => toCurrent(ctx, { action: "msg", text }) },
  { words: ["me"], args: "TEXT...", help: "describe an action: /me waves",
    build: ([text], ctx) => toCurrent(ctx, { action: "msg", text, kind: "action" }) },
  { words: ["join", "j"], args: "#ROOM", help: "join a room (it is made if it does not exist)",
    build: ([room]) => ({ send: { action: "join", room: asRoom(room) } }) },
  { words: ["part", "leave"], args: "[#ROOM] [REASON...]", help: "leave a room (the open one if none is named)",
    build: ([room, reason], ctx) => part(room, reason, ctx) },
  { words: ["room"], args: "#ROOM", help: "open a room you are in",
    build: ([room]) => ({ local: "room", room: asRoom(room) }) },
  { words: ["users", "online", "userlist", "who", "names"], args: "[#ROOM]", help: "who is online, or who is in #ROOM",
    build: ([room]) => ({ send: room ? { action: "users", room: asRoom(room) } : { action: "users" } }) },
  { words: ["rooms", "list"], args: "", help: "the rooms and how many are in each",
    build: () => ({ send: { action: "rooms" } }) },
  { words: ["whoami"], args: "", help: "your name, your rooms and whether you are an admin",
    build: () => ({ send: { action: "whoami" } }) },
  { words: ["quit", "sair", "logout", "exit"], args: "[REASON...]", help: "leave the chat",
    build: ([reason]) => ({ send: withOptional({ action: "quit" }, "reason", reason) }) },
  { words: ["help"], args: "[COMMAND]", help: "list the commands, or explain one",
    build: ([command]) => ({ send: withOptional({ action: "help" }, "command", command) }) },
  { words: ["ping"], args: "", help: "check that the server answers, and how fast",
    build: () => ({ send: { action: "ping" } }) },
  { words: ["history"], args: "[TARGET] [N]", help: "load the last N messages of a room or a private conversation",
    build: ([target, n], ctx) => history(target, n, ctx) },
  { words: ["register"], args: "PASSWORD...", help: "register your name with a password",
    build: ([password]) => ({ send: { action: "register", password } }) },
  { words: ["passwd", "password"], args: "OLD NEW", help: "change your password",
    build: ([old, nu]) => ({ send: { action: "passwd", old, new: nu } }) },
  { words: ["contacts"], args: "", help: "your contacts, and who of them is online",
    build: () => ({ send: { action: "contacts" } }) },
  { words: ["contact"], args: "ADD-OR-DEL NAME", help: "/contact add NAME or /contact del NAME",
    build: ([what, user]) => contact(what, user) },
  { words: ["seen"], args: "NAME", help: "when NAME was last online",
    build: ([user]) => ({ send: { action: "seen", user } }) },
  { words: ["admin", "oper"], args: "PASSWORD...", help: "become an admin with the server's admin password",
    build: ([password]) => ({ send: { action: "admin", password } }) },
  { words: ["kick"], args: "NAME [REASON...]", help: "disconnect a user (admins only)",
    build: ([user, reason]) => ({ send: withOptional({ action: "kick", user }, "reason", reason) }) },
  { words: ["shutdown", "down"], args: "[REASON...]", help: "tell everyone, then stop the server (admins only)",
    build: ([reason]) => ({ send: withOptional({ action: "shutdown" }, "reason", reason) }) },
  { words: ["debug"], args: "", help: "connections, addresses, rooms and uptime (admins only)",
    build: () => ({ send: { action: "debug" } }) },
  { words: ["accounts"], args: "", help: "the accounts, their last login and address (admins only)",
    build: () => ({ send: { action: "accounts" } }) },
  { words: ["account"], args: "CREATE-DELETE-OR-RESET NAME [PASSWORD...]",
    help: "/account create NAME PASSWORD, /account delete NAME, /account reset NAME PASSWORD (admins only)",
    build: ([what, user, password]) => account(what, user, password) },
  { words: ["clear"], args: "", help: "clear the open conversation on this page (nothing is deleted)",
    build: () => ({ local: "clear" }) },
];

const BY_WORD = new Map();
for (const command of COMMANDS) {
  for (const word of command.words) BY_WORD.set(word, command);
}

export function usage(command) {
  return ["/" + command.words[0], command.args].filter(Boolean).join(" ");
}

function withOptional(request, field, value) {
  if (value) request[field] = value;
  return request;
}

function asRoom(name) {
  return name.startsWith("#") ? name : "#" + name;
}

function toCurrent(ctx, request) {
  if (!ctx.current) return { error: "open a room or a conversation first" };
  return { send: { ...request, to: ctx.current } };
}

function part(first, rest, ctx) {
  let room = first;
  let reason = rest;
  if (first && !first.startsWith("#")) {
    room = null;
    reason = [first, rest].filter(Boolean).join(" ");
  }
  if (!room) {
    if (!ctx.current) return { error: "name the room to leave: /part #room" };
    if (!ctx.current.startsWith("#")) return { local: "close" };
    room = ctx.current;
  }
  return { send: withOptional({ action: "part", room }, "reason", reason) };
}

function history(target, n, ctx) {
  if (target && /^\d+$/.test(target) && n === undefined) {
    n = target;
    target = undefined;
  }
  target = target || ctx.current;
  if (!target) return { error: "name a room or a person: /history #room" };
  if (n !== undefined && !/^\d+$/.test(n)) return { error: `${n} is not a number; usage: /history [#room or NAME] [N]` };
  return { send: { action: "history", target, limit: n === undefined ? HISTORY_LIMIT : Number(n) }, open: target };
}

function contact(what, user) {
  const action = { add: "contact_add", del: "contact_del", delete: "contact_del", remove: "contact_del" }[what.toLowerCase()];
  if (!action) return { error: "usage: /contact add NAME or /contact del NAME" };
  return { send: { action, user } };
}

function account(what, user, password) {
  const action = { create: "account_create", delete: "account_delete", reset: "account_reset" }[what.toLowerCase()];
  if (!action) return { error: "usage: /account create NAME PASSWORD, /account delete NAME or /account reset NAME PASSWORD" };
  if (action === "account_delete") {
    if (password) return { error: "usage: /account delete NAME" };
    return { send: { action, user } };
  }
  if (!password) return { error: `missing PASSWORD; usage: /account ${what.toLowerCase()} NAME PASSWORD` };
  return { send: { action, user, password } };
}

// Split "a b rest of line" by an argument spec like "NAME [REASON...]".
function splitArgs(spec, rest) {
  const specs = spec ? spec.split(" ") : [];
  const values = [];
  for (const s of specs) {
    rest = rest.replace(/^ +/, "");
    const optional = s.startsWith("[");
    let value;
    if (s.endsWith("...") || s.endsWith("...]")) {
      value = rest.trimEnd();
      rest = "";
    } else {
      const space = rest.indexOf(" ");
      value = space < 0 ? rest : rest.slice(0, space);
      rest = space < 0 ? "" : rest.slice(space + 1);
    }
    if (!value) {
      if (optional) {
        values.push(undefined);
        continue;
      }
      return { missing: s };
    }
    values.push(value);
  }
  if (rest.trim()) return { extra: true };
  return { values };
}

export function parseInput(line, ctx) {
  if (!line.trim()) return null;
  if (!line.startsWith("/") || line.startsWith("//")) {
    const text = line.startsWith("//") ? line.slice(1) : line;
    return toCurrent(ctx, { action: "msg", text });
  }
  const space = line.indexOf(" ");
  const head = space < 0 ? line.slice(1) : line.slice(1, space);
  const rest = space < 0 ? "" : line.slice(space + 1);
  const command = BY_WORD.get(head.toLowerCase());
  if (!command) return { error: `unknown command /${head}; /help lists the commands` };
  const parsed = splitArgs(command.args, rest);
  if (parsed.missing) return { error: `missing ${parsed.missing.replace(/[[\].]/g, "")}; usage: ${usage(command)}` };
  if (parsed.extra) return { error: `too many arguments; usage: ${usage(command)}` };
  return command.build(parsed.values, ctx);
}
