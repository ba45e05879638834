/* Times as the agent reads them: "5 min ago" for inbox items (time[data-relative], kept current
 * every 20 s, by the server's clock), the hour for messages (time[data-clock]) and day plus hour
 * for notes and deletions (time[data-local]), in the agent's own time zone; the full date on
 * hover. Words and dates in the page's language (i18n.js).
 */
import { each, now } from "./page.js";
import { gettext, interpolate, pageLanguage } from "./i18n.js";

function ago(ms) {
  const seconds = Math.max(0, Math.round((now() - ms) / 1000));
  if (seconds < 60) return gettext("just now");
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return interpolate(gettext("%(count)s min ago"), { count: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return interpolate(gettext("%(count)s h ago"), { count: hours });
  return interpolate(gettext("%(count)s d ago"), { count: Math.floor(hours / 24) });
}

function showLocal(el, format) {
  const date = new Date(el.getAttribute("datetime"));
  if (isNaN(date)) return;
  el.textContent = format(date);
  el.title = date.toLocaleString(pageLanguage());
}

function relativeTimes(root) {
  each(root, "time[data-relative]", function (el) {
    el.textContent = ago(Number(el.dataset.relative));
  });
}

htmx.onLoad(function (elt) {
  relativeTimes(elt);
  each(elt, "time[data-clock]", function (el) {
    showLocal(el, (date) => date.toLocaleTimeString(pageLanguage(), { hour: "2-digit", minute: "2-digit" }));
  });
  each(elt, "time[data-local]", function (el) {
    showLocal(el, (date) => date.toLocaleString(pageLanguage(), {
      day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
    }));
  });
});
setInterval(function () { relativeTimes(document.body); }, 20000);
