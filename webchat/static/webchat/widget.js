// hitlnext web chat widget. A host page adds one tag:
//   <script src="https://YOUR-HITLNEXT/static/webchat/widget.js" async></script>
// It adds a floating "Chat with us" button that opens the chat (/chat/?embed=1) in an iframe.
// Styles are set through the CSSOM, which a host page's CSP allows (no inline <style>).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.hitlnextWidgetLoaded) { return; }
  window.hitlnextWidgetLoaded = true;
  var origin = new URL(script.src, window.location.href).origin;
  var PHONE = 520; // below this width the chat takes the whole screen above the button
  // The host page has no catalog of ours: the button's words for the languages the chat
  // speaks (locale/), chosen as the chat page chooses, by the browser's language.
  var WORDS = {
    en: { chat: "Chat", open: "Chat with us", close: "Close chat" },
    fr: { chat: "Discussion", open: "Discutez avec nous", close: "Fermer la discussion" },
    es: { chat: "Chat", open: "Chatea con nosotros", close: "Cerrar el chat" },
  };
  var words = WORDS[(navigator.language || "en").slice(0, 2).toLowerCase()] || WORDS.en;

  function css(el, rules) {
    Object.keys(rules).forEach(function (key) { el.style[key] = rules[key]; });
  }

  function build() {
    var frame = document.createElement("iframe");
    frame.id = "hitlnext-chat-frame";
    frame.title = words.chat;
    frame.hidden = true;
    css(frame, {
      position: "fixed", border: "0", zIndex: "2147483646", background: "#fff",
      boxShadow: "0 10px 30px rgba(0,0,0,.25)", borderRadius: "12px",
    });

    var button = document.createElement("button");
    button.type = "button";
    button.id = "hitlnext-chat-button";
    button.textContent = words.open;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", frame.id);
    css(button, {
      position: "fixed", right: "16px", bottom: "16px", zIndex: "2147483647",
      minHeight: "48px", padding: "0 20px", border: "0", borderRadius: "999px",
      background: "#1e3a8a", color: "#fff", font: "600 16px system-ui, sans-serif",
      cursor: "pointer", boxShadow: "0 4px 14px rgba(0,0,0,.3)",
    });

    function place() {
      if (window.innerWidth < PHONE) {
        css(frame, { left: "0", right: "0", top: "0", bottom: "80px", width: "100%",
                     height: "auto", borderRadius: "0" });
      } else {
        css(frame, { left: "auto", top: "auto", right: "16px", bottom: "80px",
                     width: "380px", height: "min(600px, calc(100vh - 100px))",
                     borderRadius: "12px" });
      }
    }

    button.addEventListener("click", function () {
      var opening = frame.hidden;
      if (opening && !frame.src) {
        // Loaded on first open only: a page view alone starts no chat session.
        frame.src = origin + "/chat/?embed=1";
      }
      frame.hidden = !opening;
      button.textContent = opening ? words.close : words.open;
      button.setAttribute("aria-expanded", opening ? "true" : "false");
    });
    window.addEventListener("resize", place);
    place();
    document.body.appendChild(frame);
    document.body.appendChild(button);
  }

  if (document.body) { build(); } else { document.addEventListener("DOMContentLoaded", build); }
})();
