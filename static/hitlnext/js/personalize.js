/* Fragments pushed to every agent are rendered once, without a viewer and in the language of
 * whatever caused them (a bot's message or the worker: English; an agent's action: theirs), so
 * the page puts in its own: "You" where an assignee name (.assignee-name[data-agent]) is the
 * signed-in agent's, and its language for the words such fragments mark with their English
 * text: data-msgid (the element's text), data-msgid-label (aria-label), data-msgid-title
 * (title), with data-msgid-args ({"position": 3}) for their placeholders.
 */
import { each, me } from "./page.js";
import { gettext, gettext_noop, interpolate } from "./i18n.js";

// The handoff statuses, which the badges mark with their English names (data-msgid).
export const STATUSES = [
  gettext_noop("Pending"),
  gettext_noop("Assigned"),
  gettext_noop("Resolved"),
  gettext_noop("Rejected"),
  gettext_noop("Expired"),
];

function translated(msgid, el) {
  const text = gettext(msgid);
  return el.dataset.msgidArgs ? interpolate(text, JSON.parse(el.dataset.msgidArgs)) : text;
}

htmx.onLoad(function (elt) {
  each(elt, "[data-msgid]", function (el) {
    el.textContent = translated(el.dataset.msgid, el);
  });
  each(elt, "[data-msgid-label]", function (el) {
    el.setAttribute("aria-label", translated(el.dataset.msgidLabel, el));
  });
  each(elt, "[data-msgid-title]", function (el) {
    el.title = translated(el.dataset.msgidTitle, el);
  });
  each(elt, ".assignee-name[data-agent]", function (el) {
    el.textContent = el.dataset.agent === me() ? gettext("You") : el.dataset.name;
  });
});
