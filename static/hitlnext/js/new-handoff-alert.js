/* A new handoff while the tab is hidden: a chime (body[data-sound-url]; not when the agent's
 * profile turned "Play a sound" off, body[data-sound="off"]) and a title blinking
 * "(n) New handoff" until the agent looks at the tab again.
 */
import { gettext } from "./i18n.js";

const baseTitle = document.title;
let blink = null;
let waiting = 0;

export function alertNewHandoff() {
  if (!document.hidden) return;
  waiting += 1;
  if (document.body.dataset.sound !== "off") playChime();
  if (blink) return;
  let on = false;
  blink = setInterval(function () {
    on = !on;
    document.title = on ? "(" + waiting + ") " + gettext("New handoff") : baseTitle;
  }, 1000);
}

function playChime() {
  try {
    const played = new Audio(document.body.dataset.soundUrl).play();
    if (played && played.catch) played.catch(function () {});
  } catch (e) { /* no audio: the title still blinks */ }
}

document.addEventListener("visibilitychange", function () {
  if (document.hidden) return;
  if (blink) clearInterval(blink);
  blink = null;
  waiting = 0;
  document.title = baseTitle;
});
