/* The flash (#flash, a polite status region where refusals land): a [data-dismiss] button
 * empties its target, and opening another conversation panel clears it.
 */
import { showsConversation } from "./page.js";

document.addEventListener("click", function (event) {
  const dismiss = event.target.closest && event.target.closest("[data-dismiss]");
  if (!dismiss) return;
  const target = document.querySelector(dismiss.dataset.dismiss);
  if (target) target.textContent = "";
});

htmx.onLoad(function (elt) {
  if (elt === document.body || !showsConversation(elt)) return;  // the page's own load keeps it
  const flash = document.getElementById("flash");
  if (flash) flash.textContent = "";
});
