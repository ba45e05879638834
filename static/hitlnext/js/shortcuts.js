/* Keyboard shortcuts for the agent pages (the help sheet: templates/includes/shortcuts.html).
 *
 * j / k: next / previous handoff in the inbox list; a: Assign to me; r: focus the composer;
 * e: Resolve; t: Transfer; ?: the help sheet; Esc in the composer leaves it.
 * No shortcut fires while the agent types (a text field, a contenteditable, a select), with a
 * modifier held (the browser's and the system's own shortcuts stay theirs), or while a dialog
 * is open. Actions press the page's own visible buttons, so the server decides exactly as for
 * a click (online, assignee...), and a hidden button (not yours, offline) does nothing.
 */
import { currentHandoff } from "./page.js";

function typing(target) {
  if (!target || !target.closest) return false;
  return !!target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
}

function visible(element) {
  return !!element && element.getClientRects().length > 0 && !element.disabled;
}

function press(selector) {
  const button = document.querySelector("#conversation " + selector);
  if (!visible(button)) return;
  // A panel swapped in a moment ago may not have its htmx behaviour bound yet (htmx binds
  // while it settles): bind it now — htmx skips an element already bound — then click.
  htmx.process(button);
  button.click();
}

function move(step) {
  const links = Array.from(document.querySelectorAll("#inbox-list .inbox-item .inbox-link"));
  if (!links.length) return;
  const current = currentHandoff();
  const index = links.findIndex((link) => link.closest(".inbox-item").dataset.id === current);
  const next = index === -1 ? (step > 0 ? 0 : links.length - 1) : index + step;
  if (next < 0 || next >= links.length) return;
  links[next].click();
  links[next].focus({ preventScroll: true });
  links[next].scrollIntoView({ block: "nearest" });
}

const actions = {
  j: () => move(1),
  k: () => move(-1),
  a: () => press(".action-assign"),
  e: () => press(".action-resolve"),
  t: () => press(".action-transfer"),
  r: () => {
    const composer = document.querySelector("#conversation .composer-text");
    if (visible(composer)) composer.focus();
  },
  "?": () => {
    const help = document.getElementById("shortcuts-help");
    if (help && !help.open) help.showModal();
  },
};

document.addEventListener("keydown", function (event) {
  if (event.defaultPrevented || event.isComposing) return;
  if (event.key === "Escape" && event.target.matches && event.target.matches(".composer-text")) {
    // Leave the composer, so that the shortcuts work again (the template picker, open, has
    // handled its own Escape already).
    event.target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event.target) || document.querySelector("dialog[open]")) return;
  const action = actions[event.key];
  if (!action) return;
  event.preventDefault();
  action();
});

document.addEventListener("click", function (event) {
  const opener = event.target.closest && event.target.closest("[data-opens-shortcuts]");
  if (!opener) return;
  const help = document.getElementById("shortcuts-help");
  if (help && !help.open) help.showModal();
});
