/* The page's one websocket: the htmx ws extension on <body ws-connect="/ws/agent/">.
 *
 * What the page tells the server (small JSON control messages):
 * - "hello" on every (re)connect, with the handoff it shows and the last message and note it
 *   has: the server answers with the current state and what the panel missed, and the inbox
 *   list is re-fetched (inbox:refresh), so nothing is lost while the socket was down, nor
 *   between the page's rendering and the socket's opening. Again every 30 min, which renews
 *   the socket's group memberships (they expire after a day).
 * - "watch" when another panel opens (a click in the inbox, back and forward), with the same
 *   catch-up: a message or note added while the panel was on its way is sent then;
 * - "read" when the agent sees the conversation: a panel opens in a visible tab (opening it is a
 *   GET, which changes nothing on the server), the tab comes back, and (live-updates.js,
 *   inbox.js) something arrives in view;
 * - "activity" on clicks and keys, at most every 30 s, which keeps an online agent online.
 * A socket refused (4403: the session ended) goes to the login page; a normal close (Daphne's
 * websocket timeout, a restart), which htmx does not retry, is retried here.
 * What the server pushes is sorted by live-updates.js.
 */
import { currentHandoff, showsConversation } from "./page.js";
import { isOnline } from "./presence.js";

const HELLO_EVERY_MS = 30 * 60 * 1000;
const ACTIVITY_EVERY_MS = 30000;
let socket = null;
let watched;
let lastActivity = 0;

export function send(payload) {
  if (socket) socket.send(JSON.stringify(payload));
}

/* The newest id the panel shows in a list (0: the list is there, empty), or null without one. */
function lastShown(listSelector, itemSelector) {
  const list = document.querySelector("#conversation " + listSelector);
  if (!list) return null;
  let last = 0;
  list.querySelectorAll(itemSelector).forEach(function (item) {
    last = Math.max(last, Number(item.dataset.id));
  });
  return last;
}

function tell(action) {
  const handoff = currentHandoff();
  watched = handoff;
  send({
    action: action,
    handoff: handoff ? Number(handoff) : null,
    after: lastShown(".message-log", ".message[data-id]"),
    notes_after: lastShown(".notes-list", ".note[data-id]"),
  });
  // After the watch: the server marks read the conversation this socket now watches.
  if (handoff && !document.hidden) send({ action: "read" });
}

function watch(force) {
  if (force || currentHandoff() !== watched) tell("watch");
}

document.addEventListener("htmx:wsOpen", function (event) {
  socket = event.detail.socketWrapper;
  tell("hello");
  // Whatever changed while the socket was away (or before it first opened).
  htmx.trigger(document.body, "inbox:refresh");
});
setInterval(function () { tell("hello"); }, HELLO_EVERY_MS);

document.addEventListener("htmx:wsClose", function (event) {
  const code = event.detail.event.code;
  const wrapper = event.detail.socketWrapper;
  socket = null;
  if (code === 4403) {
    window.location.href = document.body.dataset.loginUrl + "?next=" + encodeURIComponent(location.pathname);
    return;
  }
  // htmx retries 1006/1011/1012/1013 by itself; anything else is retried here, after a short
  // random pause.
  if ([1006, 1011, 1012, 1013].indexOf(code) === -1 && wrapper && wrapper.reconnect) {
    setTimeout(function () { wrapper.reconnect(); }, 1000 + Math.random() * 4000);
  }
});

htmx.onLoad(function (elt) {
  if (showsConversation(elt)) watch(false);
});
document.addEventListener("htmx:historyRestore", function () {
  watch(true);
  htmx.trigger(document.body, "inbox:refresh");
});

document.addEventListener("visibilitychange", function () {
  if (!document.hidden && currentHandoff()) send({ action: "read" });
});

function activity() {
  const at = Date.now();
  if (at - lastActivity < ACTIVITY_EVERY_MS || !isOnline()) return;
  lastActivity = at;
  send({ action: "activity" });
}
["click", "keydown", "input"].forEach(function (type) {
  document.addEventListener(type, activity, { capture: true, passive: true });
});
