/* The log-a-call form: look the caller up while the agent types the number.
 * <input data-lookup="/calls/lookup" data-lookup-target="ID"> fetches the lookup fragment
 * (who is calling, their consultations on every channel) into element ID. Without this script
 * the form's "Look up" button does the same with a page load. */
(function () {
  "use strict";
  var input = document.querySelector("input[data-lookup]");
  if (!input || !window.fetch) { return; }
  var target = document.getElementById(input.getAttribute("data-lookup-target"));
  var url = input.getAttribute("data-lookup");
  var timer = null;
  var asked = "";
  function lookup() {
    var number = input.value.trim();
    if (number === asked) { return; }
    asked = number;
    fetch(url + "?number=" + encodeURIComponent(number), {
      headers: { "X-Hub-Fragment": "1" }, credentials: "same-origin"
    }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (html !== null && asked === number && target) { target.innerHTML = html; }
    }).catch(function () { /* keep what is shown */ });
  }
  input.addEventListener("input", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(lookup, 200);
  });
})();
