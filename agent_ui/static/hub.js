/* The hub's own small script: live updates over Server-Sent Events, nothing else required.
 *
 * Pages work without it (plain forms and links). With it:
 * - <body data-live="/events?since=MS"> opens the event stream (a `resync` notice first when
 *   something changed after the page was rendered at MS: every fragment is re-fetched);
 * - any element with data-live-src="/path" is re-fetched and its content replaced when a
 *   notice arrives (optionally only for data-live-events="type1 type2" and, with
 *   data-live-ticket="ID", only for notices about that ticket); after a reconnect every
 *   such element is re-fetched, so nothing missed while offline stays stale;
 * - every notice is re-dispatched on document as a `hub:live` CustomEvent (detail = notice);
 * - Enter on a select submits its form (selects never submit on change: WCAG 3.2.2);
 * - <time data-since="ISO"> shows the time elapsed, refreshed every 20 s;
 * - the page title counts my consultations with a citizen's message I have not seen (kept on
 *   the server: /api/v1/agents/me/unread, POST /api/v1/tickets/ID/seen);
 * - keyboard shortcuts: Ctrl+Enter sends, Alt+N takes the next, j/k move through a list,
 *   r/n write a reply/note, / searches, ? lists them (the #shortcuts dialog).
 */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");

  // A select never submits on change (an arrow key changes it: WCAG 3.2.2); its form's button
  // does, and so does Enter on the select itself.
  document.addEventListener("keydown", function (ev) {
    var target = ev.target;
    if (ev.key === "Enter" && !ev.altKey && !ev.ctrlKey && !ev.metaKey && target.tagName === "SELECT" && target.form) {
      ev.preventDefault();
      if (target.form.requestSubmit) { target.form.requestSubmit(); } else { target.form.submit(); }
    }
  });

  function formatSince(iso) {
    var s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h) { return h + " h " + (m < 10 ? "0" : "") + m + " min"; }
    if (m) { return m + " min"; }
    return s + " s";
  }
  function tickSince(scope) {
    var nodes = (scope || document).querySelectorAll("time[data-since]");
    for (var i = 0; i < nodes.length; i++) { nodes[i].textContent = formatSince(nodes[i].getAttribute("data-since")); }
  }
  setInterval(tickSince, 20000);

  // Never lose typed text: a reply or note box (textarea[data-draft]) keeps what is typed in this
  // browser, per ticket, across a reload or a refused send; a success message naming the draft
  // (data-clears-draft) forgets it.
  (function drafts() {
    var store = window.localStorage;
    var sent = document.querySelectorAll("[data-clears-draft]");
    for (var i = 0; i < sent.length; i++) {
      try { store.removeItem("hub-draft-" + sent[i].getAttribute("data-clears-draft")); } catch (e) { /* private mode */ }
    }
    var boxes = document.querySelectorAll("textarea[data-draft]");
    Array.prototype.forEach.call(boxes, function (box) {
      var key = "hub-draft-" + box.getAttribute("data-draft");
      var kept = null;
      try { kept = store.getItem(key); } catch (e) { kept = null; }
      if (kept && !box.value) { box.value = kept; }
      box.addEventListener("input", function () {
        try { if (box.value) { store.setItem(key, box.value); } else { store.removeItem(key); } } catch (e) { /* full */ }
      });
    });
  })();

  // Keyboard shortcuts (listed in the page's #shortcuts dialog, opened with "?"). Single keys
  // only act when no field has the focus, so typing is never hijacked.
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function submitTo(action) {
    var form = document.querySelector("form[action='" + action + "']");
    if (!form) {
      var token = document.querySelector("meta[name=csrf-token]");
      form = document.createElement("form");
      form.method = "post";
      form.action = action;
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "_csrf_token"; input.value = token ? token.content : "";
      form.appendChild(input);
      document.body.appendChild(form);
    }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }
  function moveInList(step) {
    var links = Array.prototype.slice.call(document.querySelectorAll("[data-ticket-id] a[href^='/tickets/']"));
    if (!links.length) { return; }
    var at = links.indexOf(document.activeElement);
    var next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    links[next].focus();
  }
  document.addEventListener("keydown", function (ev) {
    var target = ev.target;
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && target.tagName === "TEXTAREA" && target.form) {
      ev.preventDefault();
      if (target.form.requestSubmit) { target.form.requestSubmit(); } else { target.form.submit(); }
      return;
    }
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey && ev.code === "KeyN") {
      ev.preventDefault();
      submitTo("/queue/next");
      return;
    }
    if (ev.altKey || ev.ctrlKey || ev.metaKey || typing(target)) { return; }
    var dialog = document.getElementById("shortcuts");
    if (ev.key === "?" && dialog && dialog.showModal) {
      ev.preventDefault();
      if (!dialog.open) { dialog.showModal(); }
    } else if (ev.key === "j" || ev.key === "k") {
      ev.preventDefault();
      moveInList(ev.key === "j" ? 1 : -1);
    } else if (ev.key === "r" || ev.key === "n" || ev.key === "/") {
      var field = document.getElementById(ev.key === "r" ? "reply-body" : ev.key === "n" ? "note-body" : "top-search-q");
      if (field) { ev.preventDefault(); field.focus(); }
    }
  });

  // What is new, without watching: the server keeps what each agent has seen of each of their
  // consultations (opening its page marks it), so the count in the page title is the same after a
  // reload and on every device. My lane shows it per consultation (data-unread, rendered by the
  // server); other pages ask /api/v1/agents/me/unread when one of my consultations changes.
  var store = window.localStorage;
  var baseTitle = document.title;
  var me = document.body && document.body.getAttribute("data-agent");
  var csrf = document.querySelector("meta[name=csrf-token]");
  var opened = /^\/tickets\/(\d+)/.exec(window.location.pathname);
  // Screen readers hear what changed live: one short sentence per change (#announcer, polite).
  var announcer = document.getElementById("announcer");
  function announce(key, num) {
    if (!announcer) { return; }
    var text = (announcer.getAttribute("data-" + key) || "").replace("{num}", String(num));
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = text; }, 50);  // the same sentence twice is heard twice
  }
  var shownUnread = null;
  function showUnread(n) {
    n = Number(n) || 0;
    document.title = (n ? "(" + n + ") " : "") + baseTitle;
    root.setAttribute("data-unread", String(n));
    if (shownUnread !== null && n !== shownUnread) { announce("unread", n); }
    shownUnread = n;
  }
  function lanesUnread() {
    var lanes = document.querySelector("[data-unread-total]");
    return lanes ? lanes.getAttribute("data-unread-total") : null;
  }
  var asking = null, askAgain = false;
  function askUnread(method, ticketId) {
    if (!me) { return; }
    var url = ticketId ? "/api/v1/tickets/" + ticketId + "/seen" : "/api/v1/agents/me/unread";
    var headers = { "Accept": "application/json" };
    if (method !== "GET") { headers["x-csrftoken"] = csrf ? csrf.content : ""; }
    if (method === "GET") {
      // At most one question a second: a burst of notices asks once more at the end.
      if (asking) { askAgain = true; return; }
      asking = setTimeout(function () {
        asking = null;
        if (askAgain) { askAgain = false; askUnread("GET"); }
      }, 1000);
    }
    fetch(url, { method: method, credentials: "same-origin", headers: headers })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (out) { if (out && lanesUnread() === null) { showUnread(out.consultations); } })
      .catch(function () { /* the next notice asks again */ });
  }
  var pendingSeen = false;
  function markSeen() {  // the open ticket's new messages are on screen: seen, unless the tab is hidden
    if (document.visibilityState === "hidden") { pendingSeen = true; return; }
    pendingSeen = false;
    askUnread("POST", opened[1]);
  }
  document.addEventListener("visibilitychange", function () {
    if (pendingSeen && opened && document.visibilityState === "visible") { markSeen(); }
  });
  document.addEventListener("hub:refreshed", function () {
    var total = lanesUnread();
    if (total !== null) { showUnread(total); }
  });
  if (lanesUnread() !== null) { showUnread(lanesUnread()); } else { askUnread("GET"); }

  var soundOn = store.getItem("hub-sound") !== "off";
  var soundButton = document.getElementById("sound-toggle");
  if (soundButton) {
    soundButton.hidden = false;
    soundButton.setAttribute("aria-pressed", soundOn ? "true" : "false");
    soundButton.addEventListener("click", function () {
      soundOn = !soundOn;
      store.setItem("hub-sound", soundOn ? "on" : "off");
      soundButton.setAttribute("aria-pressed", soundOn ? "true" : "false");
    });
  }
  var notifyButton = document.getElementById("notify-ask");
  if (notifyButton && window.Notification && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {  // asked on a click, never on load
      Notification.requestPermission().then(function () { notifyButton.hidden = true; });
    });
  }
  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return; }
    try {
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.1;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no audio device */ }
  }
  function alertAgent(notice) {
    if (soundOn) {
      root.setAttribute("data-sounds", String(Number(root.getAttribute("data-sounds") || 0) + 1));
      document.dispatchEvent(new CustomEvent("hub:sound", { detail: notice }));  // the hook
      beep();
    }
    if (window.Notification && Notification.permission === "granted" && document.hidden) {
      try { new Notification(baseTitle, { tag: "hub-" + notice.ticket_id }); } catch (e) { /* ignore */ }
    }
  }
  document.addEventListener("hub:live", function (ev) {
    var n = ev.detail || {};
    var mine = String(n.assignee_id) === me || String(n.agent_id) === me;
    if (opened && String(n.ticket_id) === opened[1] && n.type === "citizen_replied") {
      announce("new-message");
      markSeen();  // reading it now
      return;
    }
    var given = (n.type === "assigned" || n.type === "transferred") && String(n.agent_id) === me;
    if ((n.type === "citizen_replied" && String(n.assignee_id) === me) || given) {
      alertAgent(n);
      announce(given ? "given" : "new-message-mine");
    } else if (n.type === "queued" && document.getElementById("lane-waiting")) {
      announce("new-ticket");
    }
    if (mine && lanesUnread() === null) { askUnread("GET"); }
  });

  // A live refresh replaces a fragment's HTML; the focused control is found again in the new
  // HTML (by id, else by what it does: a link's address, a control's form, name and value, else
  // its position), so keyboard and screen-reader users stay where they were. If it is gone, the
  // fragment itself takes the focus rather than dropping it to <body>.
  var FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";
  function focusKey(el) {
    var active = document.activeElement;
    if (!active || active === document.body || !el.contains(active)) { return null; }
    var all = Array.prototype.slice.call(el.querySelectorAll(FOCUSABLE));
    return {
      id: active.id || null, tag: active.tagName, href: active.getAttribute("href"),
      action: active.form ? active.form.getAttribute("action") : null, name: active.getAttribute("name"),
      value: active.getAttribute("value"), label: active.getAttribute("aria-label"), index: all.indexOf(active),
    };
  }
  function refocus(el, key) {
    var found = key.id ? document.getElementById(key.id) : null;
    var all = Array.prototype.slice.call(el.querySelectorAll(FOCUSABLE));
    if (!found) {
      found = all.filter(function (c) {
        return c.tagName === key.tag && c.getAttribute("href") === key.href && c.getAttribute("name") === key.name &&
          c.getAttribute("value") === key.value && c.getAttribute("aria-label") === key.label &&
          (c.form ? c.form.getAttribute("action") : null) === key.action;
      })[0];
    }
    if (!found && key.index >= 0 && all.length) { found = all[Math.min(key.index, all.length - 1)]; }
    if (!found) {
      if (!el.hasAttribute("tabindex")) { el.setAttribute("tabindex", "-1"); }
      found = el;
    }
    found.focus({ preventScroll: true });
  }

  var inflight = new Map();
  var version = 0;

  function refresh(el) {
    var src = el.getAttribute("data-live-src");
    if (!src) { return Promise.resolve(); }
    if (inflight.has(el)) { el.setAttribute("data-live-again", "1"); return inflight.get(el); }
    var p = fetch(src, { credentials: "same-origin", headers: { "X-Hub-Fragment": "1", "Accept": "text/html" } })
      .then(function (res) {
        if (res.status === 401) { window.location.reload(); return null; }
        return res.ok ? res.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var keepFocus = focusKey(el);
        // ticked boxes (the board's selection) survive the refresh
        var ticked = Array.prototype.map.call(el.querySelectorAll("input[type=checkbox]:checked[id]"), function (c) { return c.id; });
        el.innerHTML = html;
        ticked.forEach(function (id) { var box = document.getElementById(id); if (box) { box.checked = true; } });
        tickSince(el);
        if (keepFocus) { refocus(el, keepFocus); }
        version += 1;
        root.setAttribute("data-live-version", String(version));
        el.dispatchEvent(new CustomEvent("hub:refreshed", { bubbles: true }));
      })
      .catch(function () { /* the next notice or reconnect tries again */ })
      .finally(function () {
        inflight.delete(el);
        if (el.getAttribute("data-live-again")) { el.removeAttribute("data-live-again"); refresh(el); }
      });
    inflight.set(el, p);
    return p;
  }

  function wants(el, notice) {
    var kinds = el.getAttribute("data-live-events");
    if (kinds && kinds.split(/\s+/).indexOf(notice.type) < 0) { return false; }
    var ticket = el.getAttribute("data-live-ticket");
    if (ticket && notice.ticket_id != null && String(notice.ticket_id) !== ticket) { return false; }
    if (ticket && notice.ticket_id == null && notice.type !== "contact_changed" && notice.type !== "agent_changed") { return false; }
    return true;
  }

  function refreshAll() {
    var els = document.querySelectorAll("[data-live-src]");
    for (var i = 0; i < els.length; i++) { refresh(els[i]); }
  }

  function onNotice(notice) {
    if (notice.type === "resync") { refreshAll(); return; }  // changed between render and listen
    if (notice.type === "ticket_seen") {  // someone read a consultation: only their own lanes change
      if (String(notice.agent_id) !== me) { return; }
      document.dispatchEvent(new CustomEvent("hub:live", { detail: notice }));
      var lanes = document.querySelectorAll("[data-live-events~='ticket_seen']");
      for (var j = 0; j < lanes.length; j++) { refresh(lanes[j]); }
      return;
    }
    document.dispatchEvent(new CustomEvent("hub:live", { detail: notice }));
    var els = document.querySelectorAll("[data-live-src]");
    for (var i = 0; i < els.length; i++) { if (wants(els[i], notice)) { refresh(els[i]); } }
  }

  var url = document.body && document.body.getAttribute("data-live");
  if (!url || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var lost = false;
  var source = new EventSource(url);
  source.onopen = function () {
    root.setAttribute("data-live-ready", "1");
    if (status) { status.hidden = true; status.textContent = ""; }
    if (lost) { lost = false; refreshAll(); }
  };
  source.onerror = function () {
    lost = true;
    root.removeAttribute("data-live-ready");
    if (status) { status.hidden = false; status.textContent = status.getAttribute("data-reconnecting") || "…"; }
  };
  source.onmessage = function (ev) { try { onNotice(JSON.parse(ev.data)); } catch (e) { /* ignore */ } };
  window.addEventListener("pagehide", function () { source.close(); });
})();
