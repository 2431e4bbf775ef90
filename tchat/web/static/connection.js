// The WebSocket to the server, and the backoff between reconnects.
//
// One Connection is one WebSocket: it numbers the requests it sends (the
// server echoes the number as "re" in its answer) and hands every event it
// receives to onEvent. It never reconnects by itself: the page decides
// whether a closed connection should come back (see app.js), and waits
// backoff.next() seconds first.

export function socketURL(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export class Connection {
  constructor(url, { onOpen, onEvent, onClose }) {
    this.nextId = 1;
    this.closed = false;
    this.socket = new WebSocket(url);
    this.socket.addEventListener("open", () => onOpen());
    this.socket.addEventListener("message", (e) => {
      let event;
      try {
        event = JSON.parse(e.data);
      } catch {
        return; // the server sends only JSON objects; ignore anything else
      }
      if (event && typeof event === "object" && typeof event.event === "string") onEvent(event);
    });
    this.socket.addEventListener("close", (e) => {
      if (this.closed) return;
      this.closed = true;
      onClose(e);
    });
  }

  get open() {
    return !this.closed && this.socket.readyState === WebSocket.OPEN;
  }

  // Send a request; returns its id (the "re" of the answer), or null if the
  // socket is not open.
  send(request) {
    if (!this.open) return null;
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ ...request, id }));
    return id;
  }

  // Send without an id (the answer to the server's ping needs none).
  post(request) {
    if (this.open) this.socket.send(JSON.stringify(request));
  }

  close() {
    this.closed = true;
    try {
      this.socket.close(1000);
    } catch {
      // already closing
    }
  }
}

// 1, 2, 4, then 5 seconds, each with up to a fifth more or less at random,
// so that browsers do not all come back at the same moment after a restart.
// The cap is low because a person is waiting: a server back after a restart
// should see them within seconds, and a try costs the server one refused
// connection. (The page also tries at once when the browser says the network
// or the tab is back; see app.js.)
export class Backoff {
  constructor(first = 1, most = 5) {
    this.first = first;
    this.most = most;
    this.tries = 0;
  }

  next() {
    const base = Math.min(this.most, this.first * 2 ** this.tries);
    this.tries += 1;
    const jitter = 0.8 + Math.random() * 0.4;
    return Math.max(0.5, Math.min(this.most, base * jitter));
  }

  reset() {
    this.tries = 0;
  }
}
