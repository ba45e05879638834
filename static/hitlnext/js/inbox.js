/* The inbox list (#inbox-list) and its items (li.inbox-item).
 *
 * - Each item shows unread (activity after this agent's read mark), urgent (pending for longer
 *   than body[data-alert-ms], by the server's clock) and selected (the panel's handoff); this
 *   is re-checked every 20 s, when the tab comes back and when another panel opens.
 * - placeItem: an item pushed to every agent (live-updates.js) is updated, inserted in sort
 *   order or dropped, according to the list's filter (data-statuses, data-labels, data-sort).
 *   A fresh pending one this page had not seen yet sounds the new-handoff alert; every pushed
 *   item may notify (notifications.js).
 * - the filters: a change tells the socket what the list now shows (the server pushes items
 *   only to the pages that show them) and the list is fetched once the socket answers it has
 *   joined (template#inbox-joined, live-updates.js), so no change falls between the two.
 * - applyQueueOrder: when the queue moves, the server pushes the pending ids in queue order
 *   (routing/queue_live.py) and the pending items shown are renumbered from it ("#2 in queue").
 */
import { currentHandoff, each, inboxView, me, now, showsConversation } from "./page.js";
import { isOpen, send } from "./live-socket.js";
import { alertNewHandoff } from "./new-handoff-alert.js";
import { gettext, interpolate } from "./i18n.js";
import { notifyItem } from "./notifications.js";

const FRESH_MS = 2 * 60 * 1000;
const readMarks = {};  // item id -> this agent's read mark, kept when an item leaves the list
const seen = {};       // item ids this page has already shown or been told about

function decorateItem(item) {
  const activity = Number(item.dataset.activity || 0);
  let read = item.dataset.read === undefined ? -1 : Number(item.dataset.read);
  if (item.dataset.id === currentHandoff() && !document.hidden) {
    read = activity;
    item.dataset.read = String(activity);
  }
  item.classList.toggle("is-unread", activity > read);
  const alertMs = Number(document.body.dataset.alertMs || 0);
  const waited = now() - Number(item.dataset.created || 0);
  item.classList.toggle("is-urgent", item.dataset.status === "pending" && alertMs > 0 && waited > alertMs);
  const selected = item.dataset.id === currentHandoff();
  item.classList.toggle("is-selected", selected);
  const link = item.querySelector(".inbox-link");
  if (link) {
    if (selected) link.setAttribute("aria-current", "true");
    else link.removeAttribute("aria-current");
  }
}

function decorateAll() {
  document.querySelectorAll(".inbox-item").forEach(decorateItem);
}

htmx.onLoad(function (elt) {
  each(elt, ".inbox-item", function (item) {
    seen[item.id] = true;
    decorateItem(item);
  });
  if (showsConversation(elt)) decorateAll();
});
setInterval(decorateAll, 20000);
document.addEventListener("visibilitychange", function () {
  if (!document.hidden) decorateAll();
});

/* --- the filters ------------------------------------------------------------------------ */
const JOIN_WAIT_MS = 2000;  // no answer by then (a busy server): fetch the list anyway
let joinWait = null;

function refreshList() {
  clearTimeout(joinWait);
  joinWait = null;
  htmx.trigger(document.body, "inbox:refresh");
}

function showView() {
  if (!isOpen()) {
    refreshList();  // the hello of the next connection tells the server, then refreshes again
    return;
  }
  send({ action: "inbox", statuses: inboxView() });
  clearTimeout(joinWait);
  joinWait = setTimeout(refreshList, JOIN_WAIT_MS);
}

/* template#inbox-joined: the socket is in the groups of what the list shows. */
export function inboxJoined() {
  refreshList();
}

document.addEventListener("change", function (event) {
  if (event.target.closest && event.target.closest("#inbox-filters")) showView();
});
document.body.addEventListener("inbox:view", showView);

/* --- placing a pushed item ------------------------------------------------------------- */
function words(value) {
  return (value || "").split(" ").filter(Boolean);
}

function category(item) {
  const status = item.dataset.status;
  if (status === "pending") return "unassigned";
  if (status === "assigned") return item.dataset.agent === me() ? "mine" : "others";
  return status;
}

function matches(item, list) {
  if (words(list.dataset.statuses).indexOf(category(item)) === -1) return false;
  const wanted = words(list.dataset.labels);
  if (!wanted.length) return true;
  const own = words(item.dataset.labels);
  return wanted.some(function (label) { return own.indexOf(label) !== -1; });
}

// sort: "newest", "oldest" or "queue" (priority rank, then oldest), as the server pages them.
function comesBefore(a, b, sort) {
  let diff = sort === "queue" ? Number(a.dataset.rank) - Number(b.dataset.rank) : 0;
  if (diff === 0) diff = Number(a.dataset.created) - Number(b.dataset.created);
  if (diff === 0) diff = Number(a.dataset.id) - Number(b.dataset.id);
  return sort === "newest" ? diff > 0 : diff < 0;
}

function insertSorted(list, item) {
  const items = list.querySelector(".inbox-items");
  const sort = list.dataset.sort || "newest";
  const others = items.querySelectorAll(":scope > .inbox-item");
  for (let i = 0; i < others.length; i++) {
    if (comesBefore(item, others[i], sort)) {
      items.insertBefore(item, others[i]);
      return true;
    }
  }
  // After every loaded item: it belongs here only if no further page is left to load.
  if (items.querySelector(":scope > .inbox-more")) return false;
  items.appendChild(item);
  return true;
}

// The list is re-fetched after every (re)connect. A push landing while that request is under
// way would be overwritten by its answer, rendered earlier: such pushes are kept and placed
// again once the answer is in, unless the answer already shows a later state of the item.
let pushedDuringRefresh = null;

function isListRefresh(event) {
  const config = event.detail.requestConfig;
  return !!(config && config.elt && config.elt.id === "inbox-filters");
}

document.addEventListener("htmx:beforeRequest", function (event) {
  if (isListRefresh(event)) pushedDuringRefresh = [];
});
document.addEventListener("htmx:afterSettle", function (event) {
  if (!isListRefresh(event) || !pushedDuringRefresh) return;
  const pushed = pushedDuringRefresh;
  pushedDuringRefresh = null;
  pushed.forEach(function (item) {
    const shown = document.getElementById(item.id);
    if (!shown || Number(shown.dataset.activity) <= Number(item.dataset.activity)) placeItem(item);
  });
});
document.addEventListener("htmx:afterRequest", function (event) {
  if (isListRefresh(event) && !event.detail.successful) pushedDuringRefresh = null;
});

export function placeItem(item) {
  if (pushedDuringRefresh) pushedDuringRefresh.push(item.cloneNode(true));
  const existing = document.getElementById(item.id);
  const read = existing ? existing.dataset.read : readMarks[item.id];
  if (read !== undefined) item.dataset.read = read;
  else delete item.dataset.read;
  const isNew = !seen[item.id] && item.dataset.status === "pending" &&
    now() - Number(item.dataset.created) < FRESH_MS;
  seen[item.id] = true;
  notifyItem(item, isNew);  // with the tab hidden, and the agent's opt-in

  const list = document.getElementById("inbox-list");
  if (list && matches(item, list)) {
    let placed = true;
    if (existing) {
      keepPosition(existing, item);
      existing.replaceWith(item);
    } else placed = insertSorted(list, item);
    if (placed) {
      htmx.process(item);
      // New content, as htmx announces its own: every behaviour decorating content sees it.
      htmx.trigger(item, "htmx:load");
      if (item.dataset.id === currentHandoff() && !document.hidden) send({ action: "read" });
    }
  } else if (existing) {
    readMarks[item.id] = existing.dataset.read;
    existing.remove();
  }
  if (isNew) alertNewHandoff();
}

/* --- queue positions ---------------------------------------------------------------------- */
function showPosition(item, position) {
  let badge = item.querySelector(".queue-position");
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "queue-position";
    const status = item.querySelector(".item-meta .badge");
    if (!status) return;
    status.after(badge);
  }
  badge.dataset.position = String(position);
  if (badge.dataset.msgid) badge.dataset.msgidArgs = JSON.stringify({ position: position });
  badge.textContent = interpolate(gettext("#%(position)s in queue"), { position: position });
}

/* An item pushed for a user message comes without its position, which that did not change. */
function keepPosition(shown, item) {
  const position = shown.querySelector(".queue-position");
  if (position && item.dataset.status === "pending" && !item.querySelector(".queue-position")) {
    showPosition(item, Number(position.dataset.position));
  }
}

/* template#queue-order: data-order lists the pending ids, next first (the first thousand:
 * items further back keep their number until the next refresh). */
export function applyQueueOrder(template) {
  const position = {};
  words(template.dataset.order).forEach(function (id, index) { position[id] = index + 1; });
  document.querySelectorAll('#inbox-list .inbox-item[data-status="pending"]').forEach(function (item) {
    if (position[item.dataset.id]) showPosition(item, position[item.dataset.id]);
  });
}
