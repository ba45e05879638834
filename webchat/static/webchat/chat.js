// The visitor's chat page. htmx's ws extension does the talking; this only polishes it.
(function () {
  "use strict";

  function log() { return document.getElementById("webchat-log"); }

  function scrollToEnd() {
    var wrap = document.querySelector(".wc-log-wrap");
    if (wrap) { wrap.scrollTop = wrap.scrollHeight; }
  }

  // Show times in the visitor's own clock; the server renders UTC.
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.textContent = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      }
    });
  }

  // A message pushed while the catch-up was being rendered can arrive twice: keep the first.
  function dropDuplicates() {
    var seen = {};
    var list = log();
    if (!list) { return; }
    Array.prototype.slice.call(list.children).forEach(function (item) {
      if (seen[item.id]) { item.remove(); } else { seen[item.id] = true; }
    });
  }

  // The rating form may be skipped: remembered per handoff, so a push or a reconnect that
  // renders it again keeps it out of the way.
  var SKIPPED = "hitlnext.webchat.ratingSkipped";

  function skippedHandoff() {
    try { return window.localStorage.getItem(SKIPPED); } catch (e) { return null; }
  }

  function hideSkippedRating() {
    var rating = document.getElementById("webchat-rating");
    var handoff = rating && rating.getAttribute("data-handoff");
    if (handoff && handoff === skippedHandoff() && rating.querySelector("form")) {
      rating.hidden = true;
    }
  }

  document.addEventListener("click", function (event) {
    var skip = event.target.closest && event.target.closest("[data-rating-skip]");
    if (!skip) { return; }
    var rating = document.getElementById("webchat-rating");
    try { window.localStorage.setItem(SKIPPED, rating.getAttribute("data-handoff")); } catch (e) { /* private mode: skipped until the next push */ }
    rating.hidden = true;
    document.getElementById("webchat-text").focus();
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    hideSkippedRating();
    dropDuplicates();
    localiseTimes(document);
    scrollToEnd();
  });

  document.addEventListener("htmx:wsAfterSend", function (event) {
    var form = event.target;
    if (form && form.id === "webchat-composer") {
      form.reset();
      form.querySelector("textarea").focus();
    }
  });

  document.addEventListener("htmx:wsOpen", function () {
    document.getElementById("webchat-connection").hidden = true;
  });
  document.addEventListener("htmx:wsClose", function () {
    document.getElementById("webchat-connection").hidden = false;
  });

  document.addEventListener("DOMContentLoaded", function () {
    hideSkippedRating();
    localiseTimes(document);
    scrollToEnd();
    var text = document.getElementById("webchat-text");
    // Enter sends, Shift+Enter makes a new line, as in every chat app.
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (text.value.trim()) { text.form.requestSubmit(); }
      }
    });
  });
})();
