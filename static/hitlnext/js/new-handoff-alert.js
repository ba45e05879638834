/* A new handoff while the tab is hidden: a chime (body[data-sound-url]) and a title blinking
 * "(n) New handoff" until the agent looks at the tab again.
 */

const baseTitle = document.title;
let blink = null;
let waiting = 0;

export function alertNewHandoff() {
  if (!document.hidden) return;
  waiting += 1;
  try {
    const played = new Audio(document.body.dataset.soundUrl).play();
    if (played && played.catch) played.catch(function () {});
  } catch (e) { /* no audio: the title still blinks */ }
  if (blink) return;
  let on = false;
  blink = setInterval(function () {
    on = !on;
    document.title = on ? "(" + waiting + ") New handoff" : baseTitle;
  }, 1000);
}

document.addEventListener("visibilitychange", function () {
  if (document.hidden) return;
  if (blink) clearInterval(blink);
  blink = null;
  waiting = 0;
  document.title = baseTitle;
});
