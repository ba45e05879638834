/* The Online switch (#online-switch) and what follows it in the page. Controls an offline agent
 * may not use are hidden by CSS (.needs-online); a fieldset[data-needs-online] stays visible but
 * disabled, read-only (the Labels control). Fragments are rendered once for every agent, so the
 * page decides; the server refuses anyway.
 */

function onlineSwitch() {
  return document.getElementById("online-switch");
}

export function isOnline() {
  const toggle = onlineSwitch();
  return !!toggle && toggle.getAttribute("aria-checked") === "true";
}

// A new switch (toggled here, or pushed) or a new fieldset.
htmx.onLoad(function () {
  const offline = !!onlineSwitch() && !isOnline();
  document.querySelectorAll("fieldset[data-needs-online]").forEach(function (fieldset) {
    fieldset.disabled = offline;
  });
});
