/* What every behaviour asks about the page, looked up at call time: the signed-in agent, the
 * handoff the panel shows, and the server's clock (so "5 min ago" and urgency do not depend on
 * the agent's clock). Registers nothing.
 */

const skew = Number(document.body.dataset.serverNow || Date.now()) - Date.now();

export function now() {
  return Date.now() + skew;
}

export function me() {
  return document.body.dataset.me || "";
}

export function currentHandoff() {
  const panel = document.getElementById("conversation");
  return panel && panel.dataset.handoff ? panel.dataset.handoff : null;
}

/* The statuses the inbox shows (the ticked "Show" filters); none on a page without an inbox. */
export function inboxView() {
  const form = document.getElementById("inbox-filters");
  if (!form) return [];
  return Array.from(form.querySelectorAll('input[name="status"]:checked')).map(function (box) {
    return box.value;
  });
}

/* Content htmx brought in (htmx.onLoad) that is, or holds, a new conversation panel. */
export function showsConversation(elt) {
  return elt.id === "conversation" || !!(elt.querySelector && elt.querySelector("#conversation"));
}

/* fn for root itself when it matches, and for every match inside it. */
export function each(root, selector, fn) {
  if (root.matches && root.matches(selector)) fn(root);
  if (root.querySelectorAll) root.querySelectorAll(selector).forEach(fn);
}
