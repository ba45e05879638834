/* Strings shown to people, in the page's language: Django's JavaScript catalog (/jsi18n/, a
 * classic script in the page's head, so it has run before any module) defines
 * window.django; without it (or for a string it lacks) the English text is used as is.
 * Named placeholders: interpolate(gettext("%(count)s min ago"), { count: 5 }).
 * The catalogs are locale/<language>/LC_MESSAGES/djangojs.po.
 */

export function gettext(text) {
  const django = globalThis.django;
  return django && django.gettext ? django.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  const django = globalThis.django;
  if (django && django.ngettext) return django.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

/* Marks a string for the catalog without translating it (the words of a table). */
export function gettext_noop(text) {
  return text;
}

export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}

/* The page's language (<html lang>), for dates and times written by the browser. */
export function pageLanguage() {
  return document.documentElement.lang || undefined;
}
