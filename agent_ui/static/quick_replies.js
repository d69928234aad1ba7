/* Quick replies in the reply box: "/" typed at the start of an empty box opens a searchable list
 * (the shared replies and the agent's own, in the citizen's language, with this consultation's
 * values already filled in by the server). Keyboard only: type to search, arrows to move, Enter
 * to insert, Escape to close. The inserted text stays editable before sending.
 */
(function () {
  "use strict";
  var box = document.getElementById("reply-body");
  var panel = document.getElementById("quick-replies");
  var search = document.getElementById("quick-reply-search");
  var list = document.getElementById("quick-reply-list");
  if (!box || !panel || !search || !list) { return; }
  var replies = null;
  var shown = [];
  var active = -1;

  function load() {
    if (replies) { return Promise.resolve(replies); }
    return fetch(box.getAttribute("data-quick-replies"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (res) { return res.ok ? res.json() : []; })
      .then(function (data) { replies = data; return data; });
  }

  function render() {
    var needle = search.value.trim().toLowerCase();
    shown = (replies || []).filter(function (r) {
      return !needle || (r.title + " " + r.shortcut + " " + r.body).toLowerCase().indexOf(needle) !== -1;
    });
    list.innerHTML = "";
    if (!shown.length) {
      var empty = document.createElement("li");
      empty.textContent = list.getAttribute("data-empty");
      list.appendChild(empty);
    }
    shown.forEach(function (r, i) {
      var li = document.createElement("li");
      li.id = "quick-reply-" + r.id;
      li.setAttribute("role", "option");
      li.setAttribute("data-index", String(i));
      var title = document.createElement("strong");
      title.textContent = r.title + (r.shortcut ? " (/" + r.shortcut + ")" : "");
      var text = document.createElement("span");
      text.className = "muted";
      text.textContent = " " + (r.filled || r.body);
      li.appendChild(title);
      li.appendChild(text);
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
      list.appendChild(li);
    });
    move(shown.length ? 0 : -1);
  }

  function move(index) {
    active = index;
    var items = list.querySelectorAll("[role=option]");
    for (var i = 0; i < items.length; i++) { items[i].setAttribute("aria-selected", i === index ? "true" : "false"); }
    if (index >= 0 && items[index]) {
      search.setAttribute("aria-activedescendant", items[index].id);
      if (items[index].scrollIntoView) { items[index].scrollIntoView({ block: "nearest" }); }
    } else {
      search.removeAttribute("aria-activedescendant");
    }
  }

  function open() {
    panel.hidden = false;
    search.value = "";
    load().then(render);
    search.focus();
  }

  function close(restore) {
    panel.hidden = true;
    if (restore) { box.focus(); }
  }

  function choose(index) {
    var r = shown[index];
    if (!r) { return; }
    box.value = r.filled || r.body;
    close(true);
    box.setSelectionRange(box.value.length, box.value.length);
  }

  box.addEventListener("keydown", function (ev) {
    if (ev.key === "/" && box.value.trim() === "" && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault();
      box.value = "";
      open();
    }
  });
  search.addEventListener("input", render);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowDown") { ev.preventDefault(); if (shown.length) { move((active + 1) % shown.length); } }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); if (shown.length) { move((active - 1 + shown.length) % shown.length); } }
    else if (ev.key === "Enter") { ev.preventDefault(); choose(active); }
    else if (ev.key === "Escape") { ev.preventDefault(); close(true); }
  });
})();
