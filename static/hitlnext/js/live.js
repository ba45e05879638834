/* hitlnext live updates: the page's one websocket (htmx ws extension on <body>).
 *
 * The server pushes fragments rendered once for every agent. The "hitlnext-live" extension
 * looks at each pushed message before htmx swaps it out of band:
 *   - inbox items (li.inbox-item) are placed by this page: updated, inserted in sort order,
 *     or dropped, according to the list's filter (data-statuses, data-labels, data-sort);
 *   - "You" replaces the agent's own name;
 *   - fragments for things this page does not show are dropped (no htmx target errors).
 * The page says "hello" on every (re)connect with the handoff it shows and the last message it
 * has; the server answers with the current state, and the inbox list is re-fetched, so
 * nothing is lost while the socket was down.
 */
(function () {
  "use strict";

  var hitlnext = (window.hitlnext = window.hitlnext || {});
  var socket = null;
  var readMarks = {};   // item id -> this agent's read mark, kept when an item leaves the list
  var seen = {};        // item ids this page has already shown or been told about
  var FRESH_MS = 2 * 60 * 1000;

  document.querySelectorAll(".inbox-item").forEach(function (item) { seen[item.id] = true; });

  function send(payload) {
    if (socket) socket.send(JSON.stringify(payload));
  }

  function lastMessageId() {
    var messages = document.querySelectorAll("#conversation .message[data-id]");
    var last = 0;
    messages.forEach(function (m) { last = Math.max(last, Number(m.dataset.id)); });
    return last || null;
  }

  var watched;
  function watch(force) {
    var handoff = hitlnext.currentHandoff();
    if (!force && handoff === watched) return;
    watched = handoff;
    send({ action: "watch", handoff: handoff ? Number(handoff) : null, after: lastMessageId() });
  }

  /* --- inbox items ------------------------------------------------------------------- */
  function words(value) { return (value || "").split(" ").filter(Boolean); }

  function category(item) {
    var status = item.dataset.status;
    if (status === "pending") return "unassigned";
    if (status === "assigned") return item.dataset.agent === hitlnext.me() ? "mine" : "others";
    return status;
  }

  function matches(item, list) {
    if (words(list.dataset.statuses).indexOf(category(item)) === -1) return false;
    var wanted = words(list.dataset.labels);
    if (!wanted.length) return true;
    var own = words(item.dataset.labels);
    return wanted.some(function (label) { return own.indexOf(label) !== -1; });
  }

  function comesBefore(a, b, newest) {
    var diff = Number(a.dataset.created) - Number(b.dataset.created);
    if (diff === 0) diff = Number(a.dataset.id) - Number(b.dataset.id);
    return newest ? diff > 0 : diff < 0;
  }

  function insertSorted(list, item) {
    var items = list.querySelector(".inbox-items");
    var newest = list.dataset.sort !== "oldest";
    var others = items.querySelectorAll(":scope > .inbox-item");
    for (var i = 0; i < others.length; i++) {
      if (comesBefore(item, others[i], newest)) {
        items.insertBefore(item, others[i]);
        return true;
      }
    }
    // After every loaded item: it belongs here only if no further page is left to load.
    if (items.querySelector(":scope > .inbox-more")) return false;
    items.appendChild(item);
    return true;
  }

  function placeItem(item) {
    var existing = document.getElementById(item.id);
    var read = existing ? existing.dataset.read : readMarks[item.id];
    if (read !== undefined) item.dataset.read = read;
    else delete item.dataset.read;
    var isNew = !seen[item.id] && item.dataset.status === "pending" &&
      hitlnext.now() - Number(item.dataset.created) < FRESH_MS;
    seen[item.id] = true;

    var list = document.getElementById("inbox-list");
    if (list && matches(item, list)) {
      if (existing) existing.replaceWith(item);
      else if (!insertSorted(list, item)) return finish();
      htmx.process(item);
      hitlnext.decorate(item);
      if (item.dataset.id === hitlnext.currentHandoff() && !document.hidden) send({ action: "read" });
    } else if (existing) {
      readMarks[item.id] = existing.dataset.read;
      existing.remove();
    }
    return finish();

    function finish() {
      if (isNew) hitlnext.alertNewHandoff();
    }
  }

  htmx.defineExtension("hitlnext-live", {
    transformResponse: function (text, xhr) {
      if (xhr) return text;  // ordinary htmx answers are rendered for this agent already
      var template = document.createElement("template");
      template.innerHTML = text;
      var messagesArrived = false;
      Array.prototype.slice.call(template.content.children).forEach(function (el) {
        hitlnext.personalize(el);
        if (el.classList.contains("inbox-item")) {
          el.remove();
          placeItem(el);
        } else if (el.dataset.reload) {
          el.remove();
          reloadPanel();
        } else if (!el.id || !document.getElementById(el.id)) {
          el.remove();  // not on this page (another handoff's head, a note list not shown)
        } else if (/^conversation-\d+-messages$/.test(el.id)) {
          messagesArrived = true;
        } else if (el.classList.contains("handoff-head") && becameMine(el)) {
          setTimeout(reloadPanel, 0);  // taken in another tab: this page needs the composer
        }
      });
      if (messagesArrived) setTimeout(afterMessages, 0);
      return template.innerHTML;
    }
  });

  // The agent's own message (or note) arrives twice, in the HTTP answer and in the socket's
  // push, in either order: whichever comes second must not add it again.
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var fragment = event.detail.fragment;
    if (!target || !/^conversation-\d+-(messages|notes)$/.test(target.id)) return;
    if (!fragment || !fragment.children) return;
    Array.prototype.slice.call(fragment.children).forEach(function (child) {
      if (child.id && document.getElementById(child.id)) child.remove();
    });
  });

  function becameMine(head) {
    return head.dataset.status === "assigned" && head.dataset.agent === hitlnext.me() &&
      !document.querySelector("#conversation .composer") &&
      !document.querySelector("#conversation .htmx-request");  // this page's own click
  }

  function afterMessages() {
    hitlnext.afterMessages(false);
    if (!document.hidden) send({ action: "read" });
  }

  function reloadPanel() {
    var handoff = hitlnext.currentHandoff();
    if (handoff) htmx.ajax("GET", "/handoffs/" + handoff + "/", { target: "#conversation", swap: "outerHTML" });
  }

  /* --- the socket's life ------------------------------------------------------------- */
  function hello() {
    var handoff = hitlnext.currentHandoff();
    watched = handoff;
    send({ action: "hello", handoff: handoff ? Number(handoff) : null, after: lastMessageId() });
  }
  document.body.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    hello();
    // Whatever changed while the socket was away (or before it first opened).
    htmx.trigger(document.body, "inbox:refresh");
  });
  // A long-open page renews its socket's group memberships (they expire after a day).
  setInterval(hello, 30 * 60 * 1000);

  document.body.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event.code;
    var wrapper = event.detail.socketWrapper;
    socket = null;
    if (code === 4403) {
      window.location.href = document.body.dataset.loginUrl + "?next=" + encodeURIComponent(location.pathname);
      return;
    }
    // htmx retries 1006/1011/1012/1013 by itself; a server that closed normally (Daphne's
    // websocket timeout, a restart) is retried here, after a short random pause.
    if ([1006, 1011, 1012, 1013].indexOf(code) === -1 && wrapper && wrapper.reconnect) {
      setTimeout(function () { wrapper.reconnect(); }, 1000 + Math.random() * 4000);
    }
  });

  // A new panel (a click in the inbox, back/forward): tell the socket what this page shows.
  htmx.onLoad(function (elt) {
    if (elt.id === "conversation" || (elt.querySelector && elt.querySelector("#conversation"))) watch(false);
  });
  document.body.addEventListener("htmx:historyRestore", function () {
    watch(true);
    htmx.trigger(document.body, "inbox:refresh");
  });

  // The inbox list was re-rendered (filters, refresh, next page): remember what it shows.
  htmx.onLoad(function (elt) {
    if (elt.querySelectorAll) elt.querySelectorAll(".inbox-item").forEach(function (item) { seen[item.id] = true; });
    if (elt.classList && elt.classList.contains("inbox-item")) seen[elt.id] = true;
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && hitlnext.currentHandoff()) send({ action: "read" });
  });

  /* --- activity: what the agent does keeps them online (throttled) -------------------- */
  var ACTIVITY_EVERY_MS = 30000;
  var lastActivity = 0;
  function activity() {
    var now = Date.now();
    if (now - lastActivity < ACTIVITY_EVERY_MS) return;
    var toggle = document.getElementById("online-switch");
    if (!toggle || toggle.getAttribute("aria-checked") !== "true") return;
    lastActivity = now;
    send({ action: "activity" });
  }
  ["click", "keydown", "input"].forEach(function (type) {
    document.addEventListener(type, activity, { capture: true, passive: true });
  });
})();
