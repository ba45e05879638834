/* The contact details column (#contact-details): the user, the Labels control, notes.
 * - After the socket reconnects the column is re-fetched (its data-url), so a push missed
 *   meanwhile is not lost. The note box keeps its draft (hx-preserve).
 * - A pushed Labels fragment does not replace the control while the agent's own change is on
 *   its way (that change's push follows).
 * Notes: Enter adds (composer.js), shown once (dedupe.js); read-only Labels offline: presence.js.
 */

let opened = false;
document.addEventListener("htmx:wsOpen", function () {
  if (!opened) {  // the first connection follows the page's own rendering
    opened = true;
    return;
  }
  const column = document.getElementById("contact-details");
  if (column && column.dataset.url) {
    htmx.ajax("GET", column.dataset.url, { target: "#contact-details", swap: "outerHTML" });
  }
});

document.addEventListener("htmx:oobBeforeSwap", function (event) {
  const target = event.detail.target;
  if (!target || !target.classList || !target.classList.contains("contact-labels")) return;
  const form = target.querySelector(".labels-control");
  if (form && form.classList.contains("htmx-request")) event.detail.shouldSwap = false;
});
