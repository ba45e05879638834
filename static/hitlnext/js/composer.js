/* "Enter sends": the one rule for the agent's text boxes, the message composer and the note box
 * (each a textarea marked data-enter-sends).
 *
 * Enter submits the box's form and Shift+Enter adds a line. A key another behaviour claimed
 * first (the template picker choosing with Enter, in the capture phase) is left alone, and so
 * is an empty box. Once the server accepted what was sent (2xx) the box is cleared, unless the
 * agent typed on while it was on its way; a refusal (403/409/422, shown in the flash) keeps the
 * draft. The form then fires "composer:sent" (the message log follows the agent's message).
 */
import { gettext, interpolate } from "./i18n.js";

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

/* "Attach": the button opens the composer's file picker; the chosen files are listed (each
 * with a "Remove" button) and go with the next Send, with or without text. The server checks
 * size and type and says what it refused in the composer (422). */

function chosenFiles(form) {
  const input = form.querySelector("input[type=file]");
  return input ? Array.from(input.files || []) : [];
}

function showChosen(form) {
  const list = form.querySelector(".composer-chosen");
  const box = form.querySelector(BOX);
  const files = chosenFiles(form);
  if (box) box.required = files.length === 0;
  if (!list) return;
  list.replaceChildren(
    ...files.map(function (file, index) {
      const item = document.createElement("li");
      item.textContent = file.name + " ";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button-link";
      remove.dataset.removeFile = String(index);
      remove.textContent = gettext("Remove");
      remove.setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name: file.name }));
      item.append(remove);
      return item;
    })
  );
  list.hidden = files.length === 0;
}

document.addEventListener("click", function (event) {
  const attach = event.target.closest && event.target.closest("[data-attach-for]");
  if (attach) {
    const input = document.getElementById(attach.dataset.attachFor);
    if (input) input.click();
    return;
  }
  const remove = event.target.closest && event.target.closest("[data-remove-file]");
  if (remove && remove.form) {
    const input = remove.form.querySelector("input[type=file]");
    const keep = new DataTransfer();
    chosenFiles(remove.form).forEach(function (file, index) {
      if (String(index) !== remove.dataset.removeFile) keep.items.add(file);
    });
    input.files = keep.files;
    showChosen(remove.form);
  }
});

document.addEventListener("change", function (event) {
  const input = event.target;
  if (!input.matches || !input.matches("form input[type=file]") || !input.form) return;
  const error = input.form.querySelector(".composer-error");
  if (error) error.textContent = "";
  showChosen(input.form);
});

// With files chosen, Enter sends even without text.
document.addEventListener("keydown", function (event) {
  const box = event.target;
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.defaultPrevented) return;
  if (!box.matches || !box.matches(BOX) || !box.form || box.value.trim()) return;
  if (chosenFiles(box.form).length) {
    event.preventDefault();
    box.form.requestSubmit();
  }
}, true);

document.addEventListener("composer:sent", function (event) {
  const form = event.target;
  const input = form.querySelector && form.querySelector("input[type=file]");
  if (!input) return;
  input.value = "";
  const error = form.querySelector(".composer-error");
  if (error) error.textContent = "";
  showChosen(form);
});
