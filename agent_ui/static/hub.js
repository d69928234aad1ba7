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
 * - <form data-autosubmit> submits when one of its selects changes;
 * - <time data-since="ISO"> shows the time elapsed, refreshed every 20 s;
 * - keyboard shortcuts: Ctrl+Enter sends, Alt+N takes the next, j/k move through a list,
 *   r/n write a reply/note, / searches, ? lists them (the #shortcuts dialog).
 */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");

  document.addEventListener("change", function (ev) {
    var form = ev.target.closest && ev.target.closest("form[data-autosubmit]");
    if (form && ev.target.tagName === "SELECT") { form.submit(); }
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

  // What is new, without watching: my consultations with a citizen's message I have not
  // opened since (remembered in this browser) are marked and counted in the page title; a
  // citizen writing on one of mine, or a consultation given to me, plays a sound (switch:
  // #sound-toggle, remembered) and, once allowed with a click, shows a desktop notification.
  var store = window.localStorage;
  var seen = {};
  try { seen = JSON.parse(store.getItem("hub-seen") || "{}"); } catch (e) { seen = {}; }
  if (!store.getItem("hub-seen-since")) { store.setItem("hub-seen-since", String(Date.now())); }
  var seenSince = Number(store.getItem("hub-seen-since"));
  var baseTitle = document.title;
  function markSeen(id) {
    seen[id] = Date.now();
    try { store.setItem("hub-seen", JSON.stringify(seen)); } catch (e) { /* private mode */ }
  }
  var opened = /^\/tickets\/(\d+)/.exec(window.location.pathname);
  if (opened) { markSeen(opened[1]); }
  function countUnread() {
    var items = document.querySelectorAll("#lane-mine li[data-last-inbound]");
    var unread = 0;
    for (var i = 0; i < items.length; i++) {
      var id = items[i].getAttribute("data-ticket-id");
      var isNew = Date.parse(items[i].getAttribute("data-last-inbound")) > Math.max(seen[id] || 0, seenSince);
      var badge = items[i].querySelector(".unread-badge");
      if (badge) { badge.hidden = !isNew; }
      items[i].classList.toggle("unread", isNew);
      if (isNew) { unread += 1; }
    }
    document.title = (unread ? "(" + unread + ") " : "") + baseTitle;
    root.setAttribute("data-unread", String(unread));
  }
  document.addEventListener("hub:refreshed", countUnread);
  countUnread();

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
  var me = document.body && document.body.getAttribute("data-agent");
  document.addEventListener("hub:live", function (ev) {
    var n = ev.detail || {};
    if (opened && String(n.ticket_id) === opened[1]) { markSeen(opened[1]); return; }  // reading it now
    var mine = n.ticket_id != null && document.querySelector("#lane-mine li[data-ticket-id='" + n.ticket_id + "']");
    if ((n.type === "citizen_replied" && mine) || ((n.type === "assigned" || n.type === "transferred") && String(n.agent_id) === me)) {
      alertAgent(n);
    }
  });

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
        var active = document.activeElement;
        var keepFocus = active && el.contains(active) && active.id ? active.id : null;
        // ticked boxes (the board's selection) survive the refresh
        var ticked = Array.prototype.map.call(el.querySelectorAll("input[type=checkbox]:checked[id]"), function (c) { return c.id; });
        el.innerHTML = html;
        ticked.forEach(function (id) { var box = document.getElementById(id); if (box) { box.checked = true; } });
        tickSince(el);
        if (keepFocus) { var again = document.getElementById(keepFocus); if (again) { again.focus(); } }
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
