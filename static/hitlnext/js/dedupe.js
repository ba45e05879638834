/* "Already shown": the one rule for a message or a note that reaches the page more than once.
 *
 * The agent's own message (or note) arrives twice, in either order: in the HTTP answer and in
 * the socket's push to everyone watching the conversation. A catch-up after a reconnect, or a
 * page of older messages, may repeat one too. Each is shown once: whatever comes second is
 * dropped, by its id, before htmx inserts it.
 */

const SHOWN_LISTS = ".message-log, .notes-list";

/* Remove the children of incoming (about to be inserted) that the page already shows. */
export function dropAlreadyShown(incoming) {
  Array.from(incoming.children).forEach(function (el) {
    if (el.id && document.getElementById(el.id)) el.remove();
  });
}

function isShownList(el) {
  return !!(el && el.closest && el.closest(SHOWN_LISTS));
}

// Out-of-band appends, from HTTP answers and from socket pushes alike.
document.addEventListener("htmx:oobBeforeSwap", function (event) {
  const { target, fragment } = event.detail;
  if (!isShownList(target) || !fragment || !fragment.children) return;
  // A replacement of the list itself (hx-swap-oob="true") is not an addition.
  if (fragment.children.length === 1 && fragment.firstElementChild.id === target.id) return;
  dropAlreadyShown(fragment);
});

// An ordinary swap inside a list: a page of older messages replacing its "Load earlier" button.
document.addEventListener("htmx:beforeSwap", function (event) {
  const detail = event.detail;
  if (!detail.shouldSwap || !isShownList(detail.target) || typeof detail.serverResponse !== "string") return;
  const template = document.createElement("template");
  template.innerHTML = detail.serverResponse;
  dropAlreadyShown(template.content);
  detail.serverResponse = template.innerHTML;
});
