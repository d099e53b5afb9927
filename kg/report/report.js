"use strict";
// Selecting highlighted words shows, beside the text, the facts of every span that covers them.
(function () {
  var panel = document.getElementById("selection");
  if (!panel) return;
  var segments = Array.prototype.slice.call(document.querySelectorAll("a.ev"));

  function show(keys) {
    segments.forEach(function (s) {
      var mine = s.dataset.spans.split(" ").some(function (k) { return keys.indexOf(k) >= 0; });
      s.classList.toggle("selected", mine);
    });
    var list = document.createElement("ol");
    keys.forEach(function (key) {
      var entry = document.getElementById("span-" + key);
      if (entry) {
        var item = entry.cloneNode(true);
        item.removeAttribute("id");
        list.appendChild(item);
      }
    });
    panel.querySelectorAll("ol, p").forEach(function (n) { n.remove(); });
    panel.appendChild(list);
  }

  segments.forEach(function (segment) {
    segment.addEventListener("click", function (event) {
      event.preventDefault();
      show(segment.dataset.spans.split(" "));
    });
  });

  function fromHash() {
    var match = /^#at-(\d+-\d+)$/.exec(location.hash);
    if (match) show([match[1]]);
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
