/* The wallboard (/reports/live/): the page's socket (live-socket.js) joins the wallboard's group
 * on every (re)connect, and the server answers the fragment as it is now; later pushes replace
 * it by id (#wallboard). The longest wait ticks here, every second, from the wait the fragment
 * was rendered with: no clock of the server's or the browser's is compared.
 */

function duration(total) {
  // As reports/charts.py's format_duration: "45 s", "3 min 20 s", "2 h 05 min", "1 d 4 h".
  if (total < 60) return total + " s";
  let minutes = Math.floor(total / 60);
  const secs = total % 60;
  if (minutes < 60) return secs ? minutes + " min " + String(secs).padStart(2, "0") + " s" : minutes + " min";
  let hours = Math.floor(minutes / 60);
  minutes %= 60;
  if (hours < 24) return minutes ? hours + " h " + String(minutes).padStart(2, "0") + " min" : hours + " h";
  const days = Math.floor(hours / 24);
  hours %= 24;
  return hours ? days + " d " + hours + " h" : days + " d";
}

document.addEventListener("htmx:wsOpen", function (event) {
  event.detail.socketWrapper.send(JSON.stringify({ action: "wallboard" }));
});

setInterval(function () {
  const wait = document.querySelector("#wallboard .wallboard-wait");
  if (!wait) return;
  // A fragment just swapped in (the page's, or a push) starts from its own wait.
  if (wait.renderedAt === undefined) wait.renderedAt = performance.now();
  const seconds = Number(wait.dataset.seconds) + Math.floor((performance.now() - wait.renderedAt) / 1000);
  wait.textContent = duration(seconds);
}, 1000);
