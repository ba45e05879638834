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

  document.addEventListener("htmx:wsAfterMessage", function () {
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
