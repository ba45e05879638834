/* The wallboard (/reports/live/): the page's socket (live-socket.js) joins the wallboard's group
 * on every (re)connect, and the server answers the fragment as it is now; later pushes replace
 * it by id (#wallboard). The longest wait ticks here, every second, from the wait the fragment
 * was rendered with: no clock of the server's or the browser's is compared.
 */
import { formatDuration } from "../hitlnext/js/units.js";

document.addEventListener("htmx:wsOpen", function (event) {
  event.detail.socketWrapper.send(JSON.stringify({ action: "wallboard" }));
});

setInterval(function () {
  const wait = document.querySelector("#wallboard .wallboard-wait");
  if (!wait) return;
  // A fragment just swapped in (the page's, or a push) starts from its own wait.
  if (wait.renderedAt === undefined) wait.renderedAt = performance.now();
  const seconds = Number(wait.dataset.seconds) + Math.floor((performance.now() - wait.renderedAt) / 1000);
  wait.textContent = formatDuration(seconds);
}, 1000);
