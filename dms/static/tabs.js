// Tabs of the document page: links to sections; without script every section is reachable by its anchor.
(function () {
  var box = document.querySelector(".tabs");
  if (!box) return;
  var links = Array.prototype.slice.call(box.querySelectorAll(".tablist a[role=tab]"));
  var panels = Array.prototype.slice.call(box.querySelectorAll(".tabpanel"));
  box.classList.add("js");
  function show(id, focus) {
    if (!document.getElementById(id)) id = "tab-" + (box.dataset.default || "view");
    panels.forEach(function (p) { p.hidden = p.id !== id; });
    links.forEach(function (a) {
      var on = a.getAttribute("aria-controls") === id;
      a.setAttribute("aria-selected", on ? "true" : "false");
      a.tabIndex = on ? 0 : -1;
      a.classList.toggle("active", on);
      if (on && focus) a.focus();
    });
  }
  links.forEach(function (a, i) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      var id = a.getAttribute("aria-controls");
      history.replaceState(null, "", "#" + id);
      show(id, false);
    });
    a.addEventListener("keydown", function (e) {
      var step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      e.preventDefault();
      var next = links[(i + step + links.length) % links.length];
      history.replaceState(null, "", "#" + next.getAttribute("aria-controls"));
      show(next.getAttribute("aria-controls"), true);
    });
  });
  window.addEventListener("hashchange", function () { show(location.hash.slice(1), false); });
  show(location.hash.slice(1), false);
})();
