/* hitlnext contact details and the composer's message template picker.
 *
 * - Notes: Enter adds, Shift+Enter is a new line; the note arrives twice (the answer and the
 *   push to the conversation's watchers) and the copy is dropped by id.
 * - Labels: read-only (disabled) while the agent is offline; a pushed labels fragment does
 *   not replace the form while the agent's own change is on its way (that change's push
 *   follows).
 * - After the socket reconnects the column is re-fetched, so a push missed meanwhile is not lost.
 * - Template picker: the trigger (body[data-template-trigger], ":" by default) typed at the
 *   start of the Message box or after a space opens a listbox of the message templates whose
 *   name contains what follows it. The ARIA combobox pattern: the textbox carries
 *   aria-expanded, aria-controls and aria-activedescendant; ArrowUp/ArrowDown move, Enter
 *   chooses (instead of sending), Escape closes; the mouse works too. The templates come
 *   filled in by the server as JSON and only ever go into text (value, textContent).
 * No inline handlers (CSP): everything is delegated from here.
 */
(function () {
  "use strict";

  var body = document.body;

  function each(root, selector, fn) {
    if (root.matches && root.matches(selector)) fn(root);
    if (root.querySelectorAll) root.querySelectorAll(selector).forEach(fn);
  }

  function hasClass(el, name) {
    return !!(el && el.classList && el.classList.contains(name));
  }

  /* --- notes and dates ------------------------------------------------------------------ */
  function dedupeNotes() {
    document.querySelectorAll(".notes-list").forEach(function (list) {
      var seen = {};
      list.querySelectorAll(".note[id]").forEach(function (note) {
        if (seen[note.id]) note.remove();
        seen[note.id] = true;
      });
    });
  }

  htmx.onLoad(function (elt) {
    each(elt, "time[data-local]", function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      el.textContent = date.toLocaleString([], {
        day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
      });
      el.title = date.toLocaleString();
    });
    if (elt.matches && (elt.matches(".note") || elt.querySelector(".note"))) dedupeNotes();
  });

  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.defaultPrevented) return;
    if (!hasClass(el, "note-text")) return;
    event.preventDefault();
    if (el.value.trim()) el.form.requestSubmit();
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (!hasClass(form, "note-form")) return;
    var xhr = event.detail.xhr;
    if (!xhr || xhr.status < 200 || xhr.status >= 300) return;  // a refusal keeps the draft
    var box = form.querySelector(".note-text");
    var params = event.detail.requestConfig && event.detail.requestConfig.parameters;
    var sent = params ? params.text : null;
    // Clear the box unless the agent typed on while the note was on its way.
    if (box && (sent === null || sent === undefined || box.value === sent)) box.value = "";
    dedupeNotes();
  });

  /* --- labels ----------------------------------------------------------------------------- */
  // Offline agents see the labels read-only: the fieldset follows the Online switch (the
  // fragment is rendered once for every agent, so the page decides; the server refuses anyway).
  function syncOnline() {
    var toggle = document.getElementById("online-switch");
    var online = !toggle || toggle.getAttribute("aria-checked") === "true";
    document.querySelectorAll("fieldset[data-needs-online]").forEach(function (fieldset) {
      fieldset.disabled = !online;
    });
  }
  htmx.onLoad(syncOnline);  // a new switch (toggled, pushed) or a new labels fragment

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!hasClass(target, "contact-labels")) return;
    var form = target.querySelector(".labels-control");
    if (form && form.classList.contains("htmx-request")) event.detail.shouldSwap = false;
  });

  /* --- catch up after a reconnect ------------------------------------------------------- */
  var opened = false;
  body.addEventListener("htmx:wsOpen", function () {
    if (!opened) {  // the first connection follows the page's own rendering
      opened = true;
      return;
    }
    var column = document.getElementById("contact-details");
    if (column && column.dataset.url) {
      htmx.ajax("GET", column.dataset.url, { target: "#contact-details", swap: "outerHTML" });
    }
  });

  /* --- the message template picker ------------------------------------------------------- */
  var TRIGGER = body.dataset.templateTrigger || ":";
  var CACHE_MS = 60000;
  var cache = {};       // url -> {at, promise}: the filled templates of one handoff
  var state = null;     // the open list: {box, list, matches, active}
  var dismissed = null; // {box, start}: Escape closed the list for this trigger

  function load(url) {
    var entry = cache[url];
    if (!entry || Date.now() - entry.at > CACHE_MS) {
      var promise = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("templates: " + response.status);
          return response.json();
        })
        .then(function (data) { return Array.isArray(data.templates) ? data.templates : []; })
        .catch(function () {
          delete cache[url];
          return [];
        });
      entry = cache[url] = { at: Date.now(), promise: promise };
    }
    return entry.promise;
  }

  /* The trigger and what follows it up to the caret, or null when the caret is not in one. */
  function findQuery(box) {
    if (box.selectionStart !== box.selectionEnd) return null;
    var before = box.value.slice(0, box.selectionStart);
    var at = before.lastIndexOf(TRIGGER);
    if (at === -1) return null;
    if (at > 0 && !/\s/.test(before.charAt(at - 1))) return null;  // "10:30" is not a trigger
    var query = before.slice(at + TRIGGER.length);
    if (/\s/.test(query)) return null;
    return { start: at, end: before.length, query: query };
  }

  /* Names starting with the query first, then names containing it, each in name order. */
  function matching(templates, query) {
    var q = query.toLowerCase();
    var starts = [];
    var contains = [];
    templates.forEach(function (template) {
      var i = String(template.name).toLowerCase().indexOf(q);
      if (i === 0) starts.push(template);
      else if (i > 0) contains.push(template);
    });
    return starts.concat(contains);
  }

  function listFor(box) {
    var id = box.getAttribute("aria-controls");
    return id ? document.getElementById(id) : null;
  }

  function close(box) {
    var list = listFor(box);
    if (list) {
      list.hidden = true;
      list.textContent = "";
    }
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
    if (state && state.box === box) state = null;
  }

  function setActive(index) {
    if (!state) return;
    state.active = index;
    var options = state.list.querySelectorAll("[role=option]");
    options.forEach(function (option, i) {
      var on = i === index;
      option.setAttribute("aria-selected", on ? "true" : "false");
      option.classList.toggle("is-active", on);
      if (on) {
        state.box.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      }
    });
    if (index < 0) state.box.removeAttribute("aria-activedescendant");
  }

  function open(box, list, matches) {
    var previous = state && state.box === box && state.active >= 0 ? state.matches[state.active].id : null;
    list.textContent = "";
    matches.forEach(function (template, i) {
      var option = document.createElement("li");
      option.id = list.id + "-option-" + template.id;
      option.className = "template-option";
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.dataset.index = String(i);
      var name = document.createElement("span");
      name.className = "template-name";
      name.textContent = template.name;
      var text = document.createElement("span");
      text.className = "template-text";
      text.textContent = template.text;
      option.appendChild(name);
      option.appendChild(text);
      list.appendChild(option);
    });
    state = { box: box, list: list, matches: matches, active: -1 };
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
    var keep = -1;
    matches.forEach(function (template, i) { if (template.id === previous) keep = i; });
    setActive(keep);
  }

  function choose(index) {
    if (!state) return;
    var box = state.box;
    var template = state.matches[index];
    var found = findQuery(box);
    close(box);
    if (!template || !found) return;
    box.value = box.value.slice(0, found.start) + template.text + box.value.slice(found.end);
    var caret = found.start + template.text.length;
    box.focus();
    box.setSelectionRange(caret, caret);
  }

  function update(box) {
    var url = box.form && box.form.dataset.templatesUrl;
    var list = listFor(box);
    if (!url || !list) return;
    var found = findQuery(box);
    if (!found) {
      dismissed = null;
      close(box);
      return;
    }
    if (dismissed && dismissed.box === box && dismissed.start === found.start) return;
    load(url).then(function (templates) {
      // The agent may have typed on (or left) while the templates loaded: look again.
      var now = findQuery(box);
      if (!now || now.start !== found.start || document.activeElement !== box) return;
      if (dismissed && dismissed.box === box && dismissed.start === now.start) return;
      var matches = matching(templates, now.query);
      if (matches.length) open(box, list, matches);
      else close(box);
    });
  }

  function isComposer(el) {
    return hasClass(el, "composer-text") && el.hasAttribute("aria-controls");
  }

  document.addEventListener("focusin", function (event) {
    var box = event.target;
    if (isComposer(box) && box.form && box.form.dataset.templatesUrl) load(box.form.dataset.templatesUrl);
  });
  document.addEventListener("input", function (event) {
    if (isComposer(event.target)) update(event.target);
  });
  document.addEventListener("click", function (event) {
    if (isComposer(event.target)) update(event.target);  // the caret moved
  });
  document.addEventListener("keyup", function (event) {
    if (isComposer(event.target) && ["ArrowLeft", "ArrowRight", "Home", "End"].indexOf(event.key) !== -1) {
      update(event.target);
    }
  });
  document.addEventListener("focusout", function (event) {
    if (isComposer(event.target)) close(event.target);
  });

  // Capture phase: runs before app.js's "Enter sends", which leaves a prevented key alone.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!isComposer(box) || !state || state.box !== box || event.isComposing) return;
    if (!document.body.contains(state.list)) {
      state = null;
      return;
    }
    var count = state.matches.length;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      setActive(state.active + 1 >= count ? 0 : state.active + 1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      setActive(state.active <= 0 ? count - 1 : state.active - 1);
    } else if (event.key === "Enter") {
      event.preventDefault();
      choose(state.active >= 0 ? state.active : 0);
    } else if (event.key === "Escape") {
      event.preventDefault();
      var found = findQuery(box);
      dismissed = found ? { box: box, start: found.start } : null;
      close(box);
    }
  }, true);

  // The mouse: pressing an option must not take the focus away from the textbox.
  document.addEventListener("mousedown", function (event) {
    var option = event.target.closest && event.target.closest(".template-option");
    if (!option || !state) return;
    event.preventDefault();
    choose(Number(option.dataset.index));
  });
  document.addEventListener("mousemove", function (event) {
    var option = event.target.closest && event.target.closest(".template-option");
    if (option && state && Number(option.dataset.index) !== state.active) setActive(Number(option.dataset.index));
  });
})();
