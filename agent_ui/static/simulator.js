// The citizen simulator: send as a citizen, poll the conversation, show it like a phone.
// Citizens' text is untrusted: it is only ever set with textContent.
(function () {
  "use strict";
  const phone = document.querySelector(".wa-phone");
  if (!phone) return;
  const T = phone.dataset;
  const chat = document.getElementById("wa-chat");
  const statusLine = document.getElementById("wa-status");
  const number = document.getElementById("wa-number");
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const ticks = {sent: "✓", delivered: "✓✓", read: "✓✓ ·", failed: "✗", undelivered: "✗"};
  let last = "";

  async function refresh() {
    const r = await fetch("/simulator/conversation?number=" + encodeURIComponent(number.value.trim()),
                          {headers: {"X-Hub-Fragment": "1"}});
    if (!r.ok) return;
    const lines = await r.json();
    const key = JSON.stringify(lines);
    if (key === last) return;
    last = key;
    chat.replaceChildren();
    if (!lines.length) {
      const p = document.createElement("p");
      p.textContent = T.empty;
      chat.append(p);
    }
    for (const line of lines) {
      const div = document.createElement("div");
      div.className = "wa-msg " + (line.direction === "in" ? "wa-in" : "wa-out");
      const who = document.createElement("span");
      who.className = "visually-hidden";
      who.textContent = (line.direction === "in" ? T.you : T.office) + ": ";
      const text = document.createElement("span");
      text.textContent = line.body;
      const meta = document.createElement("div");
      meta.className = "wa-meta";
      const failed = line.status === "failed" || line.status === "undelivered";
      meta.textContent = new Date(line.at).toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" }) +
        (line.direction === "out" ? " " + (ticks[line.status] || "") + (failed ? " " + T.failed : "") : "");
      div.append(who, text, meta);
      chat.append(div);
    }
    chat.scrollTop = chat.scrollHeight;
  }

  document.getElementById("wa-compose").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const body = document.getElementById("wa-body");
    const r = await fetch("/simulator/send", {
      method: "POST",
      headers: {"Content-Type": "application/json", "x-csrftoken": csrf},
      body: JSON.stringify({number: number.value.trim(), name: document.getElementById("wa-name").value, body: body.value}),
    });
    statusLine.textContent = r.ok ? "" : T.error + " (" + r.status + ")";
    if (r.ok) body.value = "";
    refresh();
  });
  number.addEventListener("change", refresh);
  refresh();
  setInterval(refresh, 1500);
})();
