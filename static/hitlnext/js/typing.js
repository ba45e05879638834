/* "typing…" both ways, never stored (handoffs/typing.py).
 *
 * - The assignee types in the composer: the socket says "typing" at most every TYPING_EVERY_MS
 *   (the server drops faster ones, and announces only the assignee's), and the web chat
 *   visitor sees "typing…".
 * - The user types (web chat, or a bot's POST /api/v1/typing): the server pushes the panel's
 *   p.typing-indicator (rendered once for every agent); the page shows its own instead (its
 *   words are the page's), and hides it TYPING_SHOWN_MS after the last push, or as soon as a
 *   message of the user arrives.
 */
import { each } from "./page.js";
import { send } from "./live-socket.js";

const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;
const COMPOSER_BOX = "form.composer textarea[name=text]";
let typingSent = 0;
const hideTimers = {};  // indicator id -> its timer

document.addEventListener("input", function (event) {
  const box = event.target;
  if (!box.matches || !box.matches(COMPOSER_BOX) || !box.value.trim()) return;
  const now = Date.now();
  if (now - typingSent < TYPING_EVERY_MS) return;
  typingSent = now;
  send({ action: "typing" });
});

// Sent: the next keystroke is a new message being typed, told at once.
document.addEventListener("composer:sent", function () { typingSent = 0; });

function hide(indicator) {
  if (!indicator) return;
  clearTimeout(hideTimers[indicator.id]);
  delete hideTimers[indicator.id];
  indicator.hidden = true;
  indicator.removeAttribute("data-typing");
}

function show(indicator) {
  indicator.hidden = false;
  indicator.setAttribute("data-typing", "");
  clearTimeout(hideTimers[indicator.id]);
  hideTimers[indicator.id] = setTimeout(function () {
    hide(document.getElementById(indicator.id));
  }, TYPING_SHOWN_MS);
}

document.addEventListener("htmx:oobBeforeSwap", function (event) {
  const target = event.detail.target;
  if (!target || !target.classList || !target.classList.contains("typing-indicator")) return;
  event.preventDefault();  // not swapped: shown
  show(target);
});

htmx.onLoad(function (elt) {
  // The user's message is what they were typing.
  each(elt, ".message-user", function (message) {
    const log = message.closest(".message-log");
    const match = log && /^conversation-(\d+)-messages$/.exec(log.id);
    if (match) hide(document.getElementById("conversation-" + match[1] + "-typing"));
  });
});
