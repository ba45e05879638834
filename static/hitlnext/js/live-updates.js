/* What the server pushes: fragments rendered once for every agent, swapped out of band by id.
 * The "hitlnext-live" htmx extension (on <body>) looks at each pushed fragment first:
 * - inbox items are placed by inbox.js (the list's filter decides), not swapped, and the
 *   queue's order renumbers the pending ones (inbox.js); template#inbox-joined (the socket
 *   follows what the list shows) has the list fetched again (inbox.js);
 * - data-reload asks for the open panel again (too much was missed to append);
 * - fragments for things this page does not show are dropped (no htmx target errors);
 * - new messages in view are reported read; a head saying this agent took the handoff in
 *   another tab reloads the panel, which then needs the composer.
 * Messages and notes already shown are dropped by dedupe.js, "You" is put in by personalize.js.
 */
import { currentHandoff, me } from "./page.js";
import { applyQueueOrder, inboxJoined, placeItem } from "./inbox.js";
import { send } from "./live-socket.js";

function reloadPanel() {
  const handoff = currentHandoff();
  if (handoff) htmx.ajax("GET", "/handoffs/" + handoff + "/", { target: "#conversation", swap: "outerHTML" });
}

function becameMine(head) {
  return head.dataset.status === "assigned" && head.dataset.agent === me() &&
    !document.querySelector("#conversation .composer") &&
    !document.querySelector("#conversation .htmx-request");  // this page's own click
}

htmx.defineExtension("hitlnext-live", {
  transformResponse: function (text, xhr) {
    if (xhr) return text;  // ordinary htmx answers are rendered for this agent already
    const template = document.createElement("template");
    template.innerHTML = text;
    let messagesArrived = false;
    Array.from(template.content.children).forEach(function (el) {
      if (el.classList.contains("inbox-item")) {
        el.remove();
        placeItem(el);
      } else if (el.id === "queue-order") {
        el.remove();
        applyQueueOrder(el);
      } else if (el.id === "inbox-joined") {
        el.remove();
        inboxJoined();
      } else if (el.dataset.reload) {
        el.remove();
        reloadPanel();
      } else if (!el.id || !document.getElementById(el.id)) {
        el.remove();  // not on this page (another handoff's head, a note list not shown)
      } else if (/^conversation-\d+-messages$/.test(el.id)) {
        messagesArrived = true;
      } else if (el.classList.contains("handoff-head") && becameMine(el)) {
        setTimeout(reloadPanel, 0);
      }
    });
    if (messagesArrived) {
      setTimeout(function () {
        if (!document.hidden) send({ action: "read" });
      }, 0);
    }
    return template.innerHTML;
  }
});
