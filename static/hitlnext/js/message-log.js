/* The message log's scrolling: a new panel opens at the newest message; new messages are
 * followed while the agent reads at the bottom, and always after the agent's own; loading
 * older messages above keeps the agent's place.
 */
import { showsConversation } from "./page.js";

let stickToBottom = true;
let olderAnchor = null;

function log() {
  return document.querySelector(".message-log");
}

function scrollToBottom() {
  const el = log();
  if (el) el.scrollTop = el.scrollHeight;
}

document.addEventListener("scroll", function (event) {
  const el = event.target;
  if (el && el.classList && el.classList.contains("message-log")) {
    stickToBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
  }
}, true);

htmx.onLoad(function (elt) {
  if (showsConversation(elt)) {
    stickToBottom = true;
    scrollToBottom();
  } else if (stickToBottom && elt.matches && elt.matches(".message-log > .message")) {
    scrollToBottom();  // pushed (or answered) while the agent reads the newest
  }
});

document.addEventListener("composer:sent", function (event) {
  if (event.target.classList.contains("composer")) scrollToBottom();
});

document.addEventListener("htmx:beforeSwap", function (event) {
  const target = event.detail.target;
  if (target && target.classList && target.classList.contains("load-older")) {
    const el = log();
    if (el) olderAnchor = { log: el, fromBottom: el.scrollHeight - el.scrollTop };
  }
});
document.addEventListener("htmx:afterSwap", function () {
  if (olderAnchor) {
    olderAnchor.log.scrollTop = olderAnchor.log.scrollHeight - olderAnchor.fromBottom;
    olderAnchor = null;
  }
});
