/* Sizes and durations in the page's language, with the words and rounding the server uses
 * (conversations/attachments.py human_size, reports/charts.py format_duration): "1.5 MB" is
 * "1,5 Mo" on a French page, "1 d 4 h" is "1 j 4 h".
 */
import { gettext, interpolate, ngettext, pageLanguage } from "./i18n.js";

function decimal(value) {
  return new Intl.NumberFormat(pageLanguage(), { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value);
}

export function formatSize(size) {
  if (size < 1024) return interpolate(ngettext("%(size)s byte", "%(size)s bytes", size), { size: size });
  let value = size / 1024;
  if (value < 1024) return interpolate(gettext("%(size)s KB"), { size: decimal(value) });
  value /= 1024;
  if (value < 1024) return interpolate(gettext("%(size)s MB"), { size: decimal(value) });
  return interpolate(gettext("%(size)s GB"), { size: decimal(value / 1024) });
}

function two(n) {
  return String(n).padStart(2, "0");
}

export function formatDuration(total) {
  if (total < 60) return interpolate(gettext("%(seconds)s s"), { seconds: total });
  let minutes = Math.floor(total / 60);
  const seconds = total % 60;
  if (minutes < 60) {
    if (!seconds) return interpolate(gettext("%(minutes)s min"), { minutes: minutes });
    return interpolate(gettext("%(minutes)s min %(seconds)s s"), { minutes: minutes, seconds: two(seconds) });
  }
  let hours = Math.floor(minutes / 60);
  minutes %= 60;
  if (hours < 24) {
    if (!minutes) return interpolate(gettext("%(hours)s h"), { hours: hours });
    return interpolate(gettext("%(hours)s h %(minutes)s min"), { hours: hours, minutes: two(minutes) });
  }
  const days = Math.floor(hours / 24);
  hours %= 24;
  if (!hours) return interpolate(gettext("%(days)s d"), { days: days });
  return interpolate(gettext("%(days)s d %(hours)s h"), { days: days, hours: hours });
}
