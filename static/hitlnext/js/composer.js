/* "Enter sends": the one rule for the agent's text boxes, the message composer and the note box
 * (each a textarea marked data-enter-sends).
 *
 * Enter submits the box's form and Shift+Enter adds a line. A key another behaviour claimed
 * first (the template picker choosing with Enter, in the capture phase) is left alone, and so
 * is an empty box. Once the server accepted what was sent (2xx) the box is cleared, unless the
 * agent typed on while it was on its way; a refusal (403/409/422, shown in the flash) keeps the
 * draft. The form then fires "composer:sent" (the message log follows the agent's message).
 */

const BOX = "textarea[data-enter-sends]";

document.addEventListener("keydown", function (event) {
  const box = event.target;
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.defaultPrevented) return;
  if (!box.matches || !box.matches(BOX) || !box.form) return;
  event.preventDefault();
  if (box.value.trim()) box.form.requestSubmit();
});

document.addEventListener("htmx:afterRequest", function (event) {
  const form = event.detail.elt;
  if (!form || form.tagName !== "FORM") return;
  const box = form.querySelector(BOX);
  const xhr = event.detail.xhr;
  if (!box || !xhr || xhr.status < 200 || xhr.status >= 300) return;
  const params = event.detail.requestConfig && event.detail.requestConfig.parameters;
  const sent = params ? params.text : null;
  if (sent === null || sent === undefined || box.value === sent) box.value = "";
  // Back to the box after a click on Send / Add, not away from wherever the agent went since.
  const focused = document.activeElement;
  if (!focused || focused === document.body || form.contains(focused)) box.focus();
  form.dispatchEvent(new CustomEvent("composer:sent", { bubbles: true }));
});
