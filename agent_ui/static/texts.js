/* The automatic texts page: each text's preview, filled with sample values, follows the typing. */
(function () {
  "use strict";
  var samples = document.getElementById("text-samples");
  if (!samples) { return; }
  function fill(text) {
    return text.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, function (whole, name) {
      var value = samples.getAttribute("data-" + name);
      return value === null ? whole : value;
    });
  }
  var boxes = document.querySelectorAll("textarea[data-preview]");
  Array.prototype.forEach.call(boxes, function (box) {
    var target = document.getElementById(box.getAttribute("data-preview"));
    function update() { target.textContent = fill(box.value); }
    box.addEventListener("input", update);
    update();
  });
})();
