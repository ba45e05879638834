/* The page's one websocket: the htmx ws extension on <body ws-connect="/ws/agent/">.
 *
 * What the page tells the server (small JSON control messages):
 * - "hello" on every (re)connect, with the handoff it shows and the last message and note it
 *   has, and what its inbox shows (the server pushes an inbox item only to the pages whose
 *   filters show it): the server answers with the current state and what the panel missed,
 *   and once it has joined the inbox's groups, with template#inbox-joined, on which the list
 *   is re-fetched (inbox.js), so nothing is lost while the socket was down, nor between the
 *   page's rendering and the socket's opening. Again every 30 min, which renews the socket's
 *   group memberships (they expire after a day).
 * - "inbox" when the inbox's filters change (inbox.js), answered the same way;
 * - "watch" when another panel opens (a click in the inbox, back and forward), with the same
 *   catch-up: a message or note added while the panel was on its way is sent then; and every
 *   minute while a conversation is shown in a visible tab, with the ids it shows, so a push
 *   lost while the socket stayed open (the next one arrived) is filled in;
 * - "read" when the agent sees the conversation: a panel opens in a visible tab (opening it is a
 *   GET, which changes nothing on the server), the tab comes back, and (live-updates.js,
 *   inbox.js) something arrives in view;
 * - "activity" on clicks and keys, at most every 30 s, which keeps an online agent online.
 * A socket refused (4403: the session ended) goes to the login page; a normal close (Daphne's
 * websocket timeout, a restart), which htmx does not retry, is retried here.
 * What the server pushes is sorted by live-updates.js.
 */
import { currentHandoff, inboxView, showsConversation } from "./page.js";
import { isOnline } from "./presence.js";

const HELLO_EVERY_MS = 30 * 60 * 1000;
// The open conversation is checked for gaps this often: a push lost without the socket
// closing (Redis restarting, a server killed between a commit and its push) shows within it.
const CATCH_UP_EVERY_MS = 60 * 1000;
const SHOWN_MAX = 100;  // the server's SHOWN_MAX
const ACTIVITY_EVERY_MS = 30000;
let socket = null;
let watched;
let lastActivity = 0;

export function send(payload) {
  if (socket) socket.send(JSON.stringify(payload));
}

export function isOpen() {
  return socket !== null;
}

/* The ids the panel shows in a list, oldest first, or null without the list. */
function shownIds(listSelector, itemSelector) {
  const list = document.querySelector("#conversation " + listSelector);
  if (!list) return null;
  return Array.from(list.querySelectorAll(itemSelector), function (item) {
    return Number(item.dataset.id);
  }).sort(function (a, b) { return a - b; });
}

/* The newest id of `ids` (0: the list is there, empty), or null without one. */
function newest(ids) {
  return ids === null ? null : (ids.length ? ids[ids.length - 1] : 0);
}

function tell(action, extra) {
  const handoff = currentHandoff();
  watched = handoff;
  const messages = shownIds(".message-log", ".message[data-id]");
  const notes = shownIds(".notes-list", ".note[data-id]");
  send(Object.assign({
    action: action,
    handoff: handoff ? Number(handoff) : null,
    after: newest(messages),
    notes_after: newest(notes),
    // The latest ones shown: the server also sends any missing between them (a lost push).
    shown: messages && messages.slice(-SHOWN_MAX),
    notes_shown: notes && notes.slice(-SHOWN_MAX),
  }, extra || {}));
  // After the watch: the server marks read the conversation this socket now watches.
  if (handoff && !document.hidden) send({ action: "read" });
}

function watch(force) {
  if (force || currentHandoff() !== watched) tell("watch");
}

document.addEventListener("htmx:wsOpen", function (event) {
  socket = event.detail.socketWrapper;
  // refresh: whatever changed while the socket was away (or before it first opened), once the
  // answer says the socket is in the inbox's groups.
  tell("hello", { inbox: inboxView(), refresh: true });
});
setInterval(function () { tell("hello", { inbox: inboxView() }); }, HELLO_EVERY_MS);
setInterval(function () {
  if (socket && currentHandoff() && !document.hidden) tell("watch");
}, CATCH_UP_EVERY_MS);

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
  htmx.trigger(document.body, "inbox:view");  // inbox.js: the restored filters, then the list
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
