/* The "Transfer handoff" dialog: the Transfer button loads its content (the online agents as
 * they are now) into the conversation's <dialog>, which opens as a modal once it arrives.
 * A choice answers with the conversation panel, which replaces the dialog; a refusal lands in
 * #flash, so the dialog closes to let the agent read it. Cancel is a form with method=dialog.
 */

document.addEventListener("htmx:afterSwap", function (event) {
  const dialog = event.detail.target;
  if (dialog.matches && dialog.matches("dialog.transfer-dialog") && !dialog.open) {
    dialog.showModal();
  }
});

document.addEventListener("htmx:afterRequest", function (event) {
  const dialog = event.detail.elt.closest && event.detail.elt.closest("dialog.transfer-dialog");
  if (dialog && dialog.isConnected && dialog.open) dialog.close();
});
