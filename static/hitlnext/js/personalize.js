/* Fragments pushed to every agent are rendered once, without a viewer and in the language of
 * whatever caused them (a bot's message or the worker: English; an agent's action: theirs), so
 * the page puts in its own: "You" where an assignee name (.assignee-name[data-agent]) is the
 * signed-in agent's, and its language for the words such fragments mark with their English
 * text: data-msgid (the element's text), data-msgid-label (aria-label), data-msgid-title
 * (title), with data-msgid-args ({"position": 3}) for their placeholders and data-msgid-plural
 * for a count's plural (args.count). Sizes (data-bytes) are written here too. So what a page
 * shows of a push does not depend on the language it was rendered in (tested with a model of
 * this script: tests/personalize.py).
 */
import { each, me } from "./page.js";
import { gettext, gettext_noop, interpolate, ngettext } from "./i18n.js";
import { formatSize } from "./units.js";

// The handoff statuses, which the badges mark with their English names (data-msgid).
export const STATUSES = [
  gettext_noop("Pending"),
  gettext_noop("Assigned"),
  gettext_noop("Resolved"),
  gettext_noop("Rejected"),
  gettext_noop("Expired"),
];
// Where a rating came from (Rating.Source, marked with its English name).
export const RATING_SOURCES = [gettext_noop("Web chat"), gettext_noop("Bot")];

function translated(msgid, el) {
  const args = el.dataset.msgidArgs ? JSON.parse(el.dataset.msgidArgs) : null;
  const plural = el.dataset.msgidPlural;
  const text = plural === undefined ? gettext(msgid) : ngettext(msgid, plural, Number(args.count));
  return args ? interpolate(text, args) : text;
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
  each(elt, "[data-bytes]", function (el) {
    el.textContent = formatSize(Number(el.dataset.bytes));
  });
  each(elt, ".assignee-name[data-agent]", function (el) {
    el.textContent = el.dataset.agent === me() ? gettext("You") : el.dataset.name;
  });
});
