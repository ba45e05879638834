/* Browser notifications while the tab is hidden: opt-in per agent (the profile's "Browser
 * notifications", body[data-notifications="on"]), and only once the browser allowed them (the
 * profile asks when the box is ticked: a user gesture, as browsers require).
 *
 * Notified from what the page receives anyway (inbox.js placeItem hands every pushed item here
 * before placing it):
 * - a new handoff, the one the chime rings for (every agent page gets new pending handoffs):
 *   "New handoff: <user name>";
 * - a message in a handoff assigned to this agent: its item pushed, still assigned to them,
 *   with newer activity than this page knew: "<user name>: <message preview>". Such pushes
 *   reach the pages whose inbox shows "Assigned to me" (handoffs/inbox_groups.py), which is
 *   the default view.
 * Clicking one focuses the tab and opens the conversation. A handoff has one notification at a
 * time (its tag), so several hidden tabs of the agent show it once. Text only: a notification
 * shows no HTML.
 */
import { each, me } from "./page.js";
import { gettext, interpolate } from "./i18n.js";

const known = {};  // item id -> what this page last knew of it

function remember(item) {
  known[item.id] = {
    status: item.dataset.status,
    agent: item.dataset.agent,
    activity: Number(item.dataset.activity || 0),
  };
}

htmx.onLoad(function (elt) {
  each(elt, ".inbox-item", remember);
  if (elt.id === "profile-form") profileShown(elt);
});

function allowed() {
  return document.body.dataset.notifications === "on" && "Notification" in window &&
    Notification.permission === "granted";
}

function text(item, selector) {
  const el = item.querySelector(selector);
  const value = el ? el.textContent.trim() : "";
  return value === "—" ? "" : value;
}

function openConversation(id, url) {
  const link = document.querySelector("#handoff-" + id + " .inbox-link");
  if (link && document.getElementById("conversation")) link.click();  // into the panel
  else window.location.href = url;
}

function show(item, title, body) {
  if (!document.hidden || !allowed()) return;
  const link = item.querySelector(".inbox-link");
  const url = link ? link.getAttribute("href") : "/handoffs/" + item.dataset.id + "/";
  let notification;
  try {
    notification = new Notification(title, {
      body: body,
      tag: "hitlnext-handoff-" + item.dataset.id,
      renotify: true,
    });
  } catch (e) {
    return;  // a browser that only notifies through a service worker
  }
  notification.onclick = function () {
    window.focus();
    openConversation(item.dataset.id, url);
    notification.close();
  };
}

/* An inbox item pushed to this page, before it is placed; isNew: a fresh pending handoff. */
export function notifyItem(item, isNew) {
  const before = known[item.id];
  remember(item);
  const name = text(item, ".item-name") || gettext("A user");
  if (isNew) {
    show(item, interpolate(gettext("New handoff: %(name)s"), { name: name }), text(item, ".item-preview"));
    return;
  }
  const mine = function (state) { return state.status === "assigned" && state.agent === me(); };
  if (before && mine(before) && mine(known[item.id]) &&
      known[item.id].activity > before.activity) {
    show(item, name + ": " + text(item, ".item-preview"), "");
  }
}

/* --- the profile's settings --------------------------------------------------------------- */
function say(form, message) {
  const state = form.querySelector("[data-notifications-state]");
  if (state) state.textContent = message;
}

document.addEventListener("change", function (event) {
  const box = event.target;
  if (box.name !== "browser_notifications" || !box.form || !box.checked) return;
  if (!("Notification" in window)) {
    box.checked = false;
    say(box.form, gettext("This browser cannot show notifications."));
    return;
  }
  if (Notification.permission === "granted") return;
  Promise.resolve(Notification.requestPermission()).then(function (answer) {
    if (answer === "granted") {
      say(box.form, gettext("Notifications are allowed. Save to turn them on."));
    } else {
      box.checked = false;
      say(box.form, gettext(
        "Your browser blocks notifications from this site: allow them in its site settings, then tick the box again."
      ));
    }
  });
});

/* After a save the page's settings are the form's: the body was rendered before. */
function profileShown(form) {
  if (!form.querySelector(".notice")) return;
  const notifications = form.querySelector("input[name=browser_notifications]");
  const sound = form.querySelector("input[name=play_sound]");
  if (notifications) document.body.dataset.notifications = notifications.checked ? "on" : "off";
  if (sound) document.body.dataset.sound = sound.checked ? "on" : "off";
}
