/* The reports' time zone is the viewer's: the browser knows it (Intl), the server reads it
 * from the `tz` query parameter (reports/filters.py). Loaded by the top bar for those who see
 * the Reports link: the link gets `tz`, and the reports page opened without it (a bookmark,
 * a typed address) is reloaded once with it. Without this script the server's TIME_ZONE
 * applies, and the page says which zone it used.
 */

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function withZone(href) {
  const url = new URL(href, window.location.href);
  if (!url.searchParams.has("tz")) url.searchParams.set("tz", zone);
  return url;
}

if (zone) {
  for (const link of document.querySelectorAll("a[data-time-zone-link]")) {
    link.href = withZone(link.href).toString();
  }
  const here = new URL(window.location.href);
  if (document.querySelector("form[data-report-filters]") && !here.searchParams.has("tz")) {
    window.location.replace(withZone(here.href).toString());
  }
}
