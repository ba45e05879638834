/* hitlnext agent pages: behaviour that needs no server round trip.
 *
 * Relative times, urgency, unread dots, label colours, the composer's Enter key, scrolling of
 * the message log, the new-handoff alert. No inline handlers anywhere (CSP): everything is
 * delegated from here. window.hitlnext is shared with live.js.
 */
(function () {
  "use strict";

  var body = document.body;
  var hitlnext = (window.hitlnext = window.hitlnext || {});
  // The server's clock, so "5 min ago" and urgency do not depend on the agent's clock.
  var skew = Number(body.dataset.serverNow || Date.now()) - Date.now();

  hitlnext.now = function () { return Date.now() + skew; };
  hitlnext.me = function () { return body.dataset.me || ""; };
  hitlnext.currentHandoff = function () {
    var panel = document.getElementById("conversation");
    return panel && panel.dataset.handoff ? panel.dataset.handoff : null;
  };

  function relative(ms) {
    var seconds = Math.max(0, Math.round((hitlnext.now() - ms) / 1000));
    if (seconds < 60) return "just now";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min ago";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h ago";
    return Math.floor(hours / 24) + " d ago";
  }

  function each(root, selector, fn) {
    if (root.matches && root.matches(selector)) fn(root);
    if (root.querySelectorAll) root.querySelectorAll(selector).forEach(fn);
  }

  /* One inbox item: unread (activity after this agent's read mark), urgent, selected. */
  hitlnext.decorateItem = function (item) {
    var activity = Number(item.dataset.activity || 0);
    var read = item.dataset.read === undefined ? -1 : Number(item.dataset.read);
    if (item.dataset.id === hitlnext.currentHandoff() && !document.hidden) {
      read = activity;
      item.dataset.read = String(activity);
    }
    item.classList.toggle("is-unread", activity > read);
    var alertMs = Number(body.dataset.alertMs || 0);
    var waiting = hitlnext.now() - Number(item.dataset.created || 0);
    item.classList.toggle("is-urgent", item.dataset.status === "pending" && alertMs > 0 && waiting > alertMs);
    var selected = item.dataset.id === hitlnext.currentHandoff();
    item.classList.toggle("is-selected", selected);
    var link = item.querySelector(".inbox-link");
    if (link) {
      if (selected) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
  };

  /* "You" where the pushed fragment names this agent (it was rendered for everyone). */
  hitlnext.personalize = function (root) {
    each(root, ".assignee-name[data-agent]", function (el) {
      el.textContent = el.dataset.agent === hitlnext.me() ? "You" : el.dataset.name;
    });
  };

  hitlnext.decorate = function (root) {
    hitlnext.personalize(root);
    each(root, ".inbox-item", hitlnext.decorateItem);
    each(root, "time[data-relative]", function (el) {
      el.textContent = relative(Number(el.dataset.relative));
    });
    each(root, "time[data-clock]", function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (!isNaN(date)) {
        el.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        el.title = date.toLocaleString();
      }
    });
    each(root, "[data-color]", function (el) {
      if (/^#[0-9a-fA-F]{3,8}$/.test(el.dataset.color)) el.style.setProperty("--label-color", el.dataset.color);
    });
  };

  /* The message log: stay at the bottom while the agent is there, keep place on "older". */
  var stickToBottom = true;
  function log() { return document.querySelector(".message-log"); }
  function scrollToBottom() {
    var el = log();
    if (el) el.scrollTop = el.scrollHeight;
  }
  document.addEventListener("scroll", function (event) {
    var el = event.target;
    if (el && el.classList && el.classList.contains("message-log")) {
      stickToBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    }
  }, true);
  hitlnext.dedupeMessages = function () {
    var el = log();
    if (!el) return;
    var seen = {};
    el.querySelectorAll(".message[id]").forEach(function (message) {
      if (seen[message.id]) message.remove();
      seen[message.id] = true;
    });
    if (el.querySelector(".message")) {
      var empty = el.querySelector(".log-empty");
      if (empty) empty.remove();
    }
  };
  hitlnext.afterMessages = function (mine) {
    hitlnext.dedupeMessages();
    if (mine || stickToBottom) scrollToBottom();
  };

  var olderAnchor = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("load-older")) {
      var el = log();
      if (el) olderAnchor = { log: el, fromBottom: el.scrollHeight - el.scrollTop };
    }
  });
  document.addEventListener("htmx:afterSwap", function () {
    if (olderAnchor) {
      olderAnchor.log.scrollTop = olderAnchor.log.scrollHeight - olderAnchor.fromBottom;
      olderAnchor = null;
      hitlnext.dedupeMessages();
    }
  });

  /* Every piece of content htmx brings in (pages, answers, pushes) gets decorated. */
  htmx.onLoad(function (elt) {
    hitlnext.decorate(elt);
    if (elt.id === "conversation" || (elt.querySelector && elt.querySelector("#conversation"))) {
      stickToBottom = true;
      scrollToBottom();
      document.querySelectorAll(".inbox-item").forEach(hitlnext.decorateItem);
      var flash = document.getElementById("flash");
      if (flash && elt !== body) flash.textContent = "";
    }
  });
  setInterval(function () { hitlnext.decorate(document.body); }, 20000);

  /* The composer: Enter sends, Shift+Enter is a new line. Another handler (the template
   * picker) may claim the key first with preventDefault. */
  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.defaultPrevented) return;
    if (!el.classList || !el.classList.contains("composer-text")) return;
    event.preventDefault();
    if (el.value.trim()) el.form.requestSubmit();
  });
  // A message went out: clear the box (if the agent did not type on meanwhile) and follow it.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.classList && form.classList.contains("composer")) {
      if (event.detail.successful) {
        var text = form.querySelector(".composer-text");
        var sent = event.detail.requestConfig && event.detail.requestConfig.parameters
          ? event.detail.requestConfig.parameters.text : null;
        if (text && (sent === null || sent === undefined || text.value === sent)) text.value = "";
        if (text) text.focus();
        hitlnext.afterMessages(true);
      }
    }
    // A session that ended answers htmx with the login page: go there for real.
    var xhr = event.detail.xhr;
    if (xhr && xhr.responseURL && xhr.responseURL.indexOf(body.dataset.loginUrl) !== -1) {
      window.location.reload();
    }
  });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest && event.target.closest("[data-dismiss]");
    if (dismiss) {
      var target = document.querySelector(dismiss.dataset.dismiss);
      if (target) target.textContent = "";
    }
  });

  /* A new handoff while the tab is hidden: a chime and a blinking title until it is seen. */
  var baseTitle = document.title;
  var blink = null;
  var waiting = 0;
  hitlnext.alertNewHandoff = function () {
    if (!document.hidden) return;
    waiting += 1;
    try {
      var audio = new Audio(body.dataset.soundUrl);
      var played = audio.play();
      if (played && played.catch) played.catch(function () {});
    } catch (e) { /* no audio: the title still blinks */ }
    if (blink) return;
    var on = false;
    blink = setInterval(function () {
      on = !on;
      document.title = on ? "(" + waiting + ") New handoff" : baseTitle;
    }, 1000);
  };
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      if (blink) clearInterval(blink);
      blink = null;
      waiting = 0;
      document.title = baseTitle;
      document.querySelectorAll(".inbox-item").forEach(hitlnext.decorateItem);
    }
  });
})();
