// The visitor's chat page. htmx's ws extension does the talking; this only polishes it.
(function () {
  "use strict";

  function log() { return document.getElementById("webchat-log"); }

  function scrollToEnd() {
    var wrap = document.querySelector(".wc-log-wrap");
    if (wrap) { wrap.scrollTop = wrap.scrollHeight; }
  }

  // Show times in the visitor's own clock and the page's language; the server renders UTC.
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.textContent = when.toLocaleTimeString(document.documentElement.lang || [], {
          hour: "2-digit", minute: "2-digit"
        });
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

  // "Attach" opens the file picker; a chosen file is sent at once (the server checks its size
  // and type and answers with the notice; the message itself arrives over the socket).
  document.addEventListener("click", function (event) {
    var attach = event.target.closest && event.target.closest("[data-attach-for]");
    if (!attach) { return; }
    var input = document.getElementById(attach.getAttribute("data-attach-for"));
    if (input) { input.click(); }
  });
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input && input.id === "webchat-file" && input.files && input.files.length) {
      input.form.requestSubmit();
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail && event.detail.elt;
    if (form && form.id === "webchat-attach") { form.reset(); }
  });

  // "typing…" both ways, never stored. While the visitor types, the agents see it: one signal
  // every TYPING_EVERY_MS at most (the server drops faster ones). While the agent types, the
  // server pushes #webchat-typing; the page shows it, and hides it TYPING_SHOWN_MS after the
  // last push, or when the agent's message arrives.
  var TYPING_EVERY_MS = 3000;
  var TYPING_SHOWN_MS = 6000;
  var socket = null;
  var typingSent = 0;
  var typingTimer = null;

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    document.getElementById("webchat-connection").hidden = true;
  });
  document.addEventListener("htmx:wsClose", function () {
    socket = null;
    document.getElementById("webchat-connection").hidden = false;
  });

  function hideTyping() {
    var typing = document.getElementById("webchat-typing");
    if (typing) {
      typing.hidden = true;
      typing.removeAttribute("data-typing");
    }
    clearTimeout(typingTimer);
  }

  document.addEventListener("input", function (event) {
    if (!socket || event.target.id !== "webchat-text" || !event.target.value.trim()) { return; }
    var now = Date.now();
    if (now - typingSent < TYPING_EVERY_MS) { return; }
    typingSent = now;
    socket.send(JSON.stringify({ action: "typing" }));
  });
  // A message sent: the next keystroke starts a new signal at once.
  document.addEventListener("htmx:wsAfterSend", function (event) {
    if (event.target.id === "webchat-composer") { typingSent = 0; }
  });

  // The pushed element is not swapped in: the page shows its own (in the page's words).
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var typing = event.detail.target;
    if (!typing || typing.id !== "webchat-typing") { return; }
    event.preventDefault();
    typing.hidden = false;
    typing.setAttribute("data-typing", "");
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_SHOWN_MS);
  });
  document.addEventListener("htmx:load", function (event) {
    var elt = event.target;
    if (elt.classList && elt.classList.contains("wc-message") && elt.classList.contains("wc-agent")) {
      hideTyping();
    }
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
