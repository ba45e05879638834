/* The message template picker on the composer's Message box.
 *
 * The trigger (body[data-template-trigger], ":" by default) typed at the start of the box or
 * after a space opens a listbox of the message templates whose name contains what follows it.
 * The textbox says it completes from a list (aria-autocomplete, aria-controls) and points at the
 * chosen option (aria-activedescendant); not aria-expanded, which a textarea may not carry
 * (axe-core's aria-allowed-attr: a textarea cannot take the combobox role that allows it); ArrowUp/ArrowDown move, Enter chooses (instead of sending), Escape
 * closes; the mouse works too. The templates come filled in by the server as JSON (the form's
 * data-templates-url) and only ever go into text (value, textContent).
 */

const TRIGGER = document.body.dataset.templateTrigger || ":";
const CACHE_MS = 60000;
const cache = {};      // url -> {at, promise}: the filled templates of one handoff
let state = null;      // the open list: {box, list, matches, active}
let dismissed = null;  // {box, start}: Escape closed the list for this trigger

function load(url) {
  let entry = cache[url];
  if (!entry || Date.now() - entry.at > CACHE_MS) {
    const promise = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
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
  const before = box.value.slice(0, box.selectionStart);
  const at = before.lastIndexOf(TRIGGER);
  if (at === -1) return null;
  if (at > 0 && !/\s/.test(before.charAt(at - 1))) return null;  // "10:30" is not a trigger
  const query = before.slice(at + TRIGGER.length);
  if (/\s/.test(query)) return null;
  return { start: at, end: before.length, query: query };
}

/* Names starting with the query first, then names containing it, each in name order. */
function matching(templates, query) {
  const q = query.toLowerCase();
  const starts = [];
  const contains = [];
  templates.forEach(function (template) {
    const i = String(template.name).toLowerCase().indexOf(q);
    if (i === 0) starts.push(template);
    else if (i > 0) contains.push(template);
  });
  return starts.concat(contains);
}

function listFor(box) {
  const id = box.getAttribute("aria-controls");
  return id ? document.getElementById(id) : null;
}

function close(box) {
  const list = listFor(box);
  if (list) {
    list.hidden = true;
    list.textContent = "";
  }
  box.removeAttribute("aria-activedescendant");
  if (state && state.box === box) state = null;
}

function setActive(index) {
  if (!state) return;
  state.active = index;
  const options = state.list.querySelectorAll("[role=option]");
  options.forEach(function (option, i) {
    const on = i === index;
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
  const previous = state && state.box === box && state.active >= 0 ? state.matches[state.active].id : null;
  list.textContent = "";
  matches.forEach(function (template, i) {
    const option = document.createElement("li");
    option.id = list.id + "-option-" + template.id;
    option.className = "template-option";
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", "false");
    option.dataset.index = String(i);
    const name = document.createElement("span");
    name.className = "template-name";
    name.textContent = template.name;
    const text = document.createElement("span");
    text.className = "template-text";
    text.textContent = template.text;
    option.appendChild(name);
    option.appendChild(text);
    list.appendChild(option);
  });
  state = { box: box, list: list, matches: matches, active: -1 };
  list.hidden = false;
  let keep = -1;
  matches.forEach(function (template, i) { if (template.id === previous) keep = i; });
  setActive(keep);
}

function choose(index) {
  if (!state) return;
  const box = state.box;
  const template = state.matches[index];
  const found = findQuery(box);
  close(box);
  if (!template || !found) return;
  box.value = box.value.slice(0, found.start) + template.text + box.value.slice(found.end);
  const caret = found.start + template.text.length;
  box.focus();
  box.setSelectionRange(caret, caret);
}

function update(box) {
  const url = box.form && box.form.dataset.templatesUrl;
  const list = listFor(box);
  if (!url || !list) return;
  const found = findQuery(box);
  if (!found) {
    dismissed = null;
    close(box);
    return;
  }
  if (dismissed && dismissed.box === box && dismissed.start === found.start) return;
  load(url).then(function (templates) {
    // The agent may have typed on (or left) while the templates loaded: look again.
    const again = findQuery(box);
    if (!again || again.start !== found.start || document.activeElement !== box) return;
    if (dismissed && dismissed.box === box && dismissed.start === again.start) return;
    const matches = matching(templates, again.query);
    if (matches.length) open(box, list, matches);
    else close(box);
  });
}

/* The composer's Message box (the note box has no picker). */
function isComposer(el) {
  return !!(el && el.classList && el.classList.contains("composer-text")) && el.hasAttribute("aria-controls");
}

document.addEventListener("focusin", function (event) {
  const box = event.target;
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

// Capture phase: runs before composer.js's "Enter sends", which leaves a prevented key alone.
document.addEventListener("keydown", function (event) {
  const box = event.target;
  if (!isComposer(box) || !state || state.box !== box || event.isComposing) return;
  if (!document.body.contains(state.list)) {
    state = null;
    return;
  }
  const count = state.matches.length;
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
    const found = findQuery(box);
    dismissed = found ? { box: box, start: found.start } : null;
    close(box);
  }
}, true);

// The mouse: pressing an option must not take the focus away from the textbox.
document.addEventListener("mousedown", function (event) {
  const option = event.target.closest && event.target.closest(".template-option");
  if (!option || !state) return;
  event.preventDefault();
  choose(Number(option.dataset.index));
});
document.addEventListener("mousemove", function (event) {
  const option = event.target.closest && event.target.closest(".template-option");
  if (option && state && Number(option.dataset.index) !== state.active) setActive(Number(option.dataset.index));
});
