// Files on a reply: the button (a plain file input, which works without this script), dropping
// files on the box, a list of the chosen files with a way to remove each, and the channel's
// limits checked before upload (the server checks them again: this only saves a wasted upload).
// The limits and the sentences come from the box's data attributes, in the agent's language.
(function () {
  "use strict";
  var box = document.getElementById("reply-drop");
  var input = document.getElementById("reply-files");
  var form = document.getElementById("reply-form");
  if (!box || !input || !form) return;
  var list = document.getElementById("reply-files-list");
  var error = document.getElementById("reply-files-error");
  var d = box.dataset;
  var extensions = (input.getAttribute("accept") || "").split(",").filter(Boolean);
  var MB = 1024 * 1024;

  function say(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }
  function mb(n) { var v = n / MB; return v === Math.round(v) ? String(v) : v.toFixed(1); }
  function extension(name) { var i = name.lastIndexOf("."); return i < 0 ? "" : name.slice(i).toLowerCase(); }
  function isImage(file) { return /^image\//.test(file.type) || [".jpg", ".jpeg", ".png", ".gif", ".webp"].indexOf(extension(file.name)) >= 0; }

  function problems(files) {
    var out = [], total = 0, maxFile = +d.maxFile, maxImage = +d.maxImage || 0;
    if (files.length > +d.maxFiles) out.push(say(d.msgCount, { count: d.maxFiles }));
    Array.prototype.forEach.call(files, function (file) {
      var limit = isImage(file) && maxImage ? maxImage : maxFile;
      if (extensions.length && extensions.indexOf(extension(file.name)) < 0) out.push(say(d.msgType, { name: file.name }));
      else if (file.size === 0) out.push(say(d.msgEmpty, { name: file.name }));
      else if (file.size > limit) out.push(say(d.msgSize, { name: file.name, limit: mb(limit) }));
      total += file.size;
    });
    if (total > +d.maxTotal) out.push(say(d.msgTotal, { limit: mb(+d.maxTotal) }));
    return out;
  }

  function setFiles(files) {
    if (typeof DataTransfer === "undefined") return false;
    var transfer = new DataTransfer();
    files.forEach(function (f) { transfer.items.add(f); });
    input.files = transfer.files;
    return true;
  }

  function show() {
    var files = Array.prototype.slice.call(input.files || []);
    list.textContent = "";
    files.forEach(function (file, index) {
      var item = document.createElement("li");
      item.appendChild(document.createTextNode(file.name + " (" + (file.size < MB ? Math.ceil(file.size / 1024) + " KB" : mb(file.size) + " MB") + ") "));
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = "✕";
      remove.setAttribute("aria-label", say(d.msgRemove, { name: file.name }));
      remove.addEventListener("click", function () {
        files.splice(index, 1);
        if (setFiles(files)) show();
        input.focus();
      });
      item.appendChild(remove);
      list.appendChild(item);
    });
    var found = problems(files);
    error.hidden = found.length === 0;
    error.textContent = found.join(" ");
    input.setAttribute("aria-invalid", found.length ? "true" : "false");
    return found.length === 0;
  }

  input.addEventListener("change", show);
  box.addEventListener("dragover", function (event) {
    event.preventDefault();
    box.classList.add("dragging");
  });
  box.addEventListener("dragleave", function () { box.classList.remove("dragging"); });
  box.addEventListener("drop", function (event) {
    event.preventDefault();
    box.classList.remove("dragging");
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    var files = Array.prototype.slice.call(input.files || []).concat(Array.prototype.slice.call(event.dataTransfer.files));
    if (setFiles(files)) show();
  });
  form.addEventListener("submit", function (event) {
    if (!show()) {
      event.preventDefault();
      input.focus();
    }
  });
})();
