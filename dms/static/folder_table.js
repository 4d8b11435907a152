// The folder table: "select all", the count of selected rows, bulk buttons enabled only with a selection.
(function () {
  var form = document.getElementById("bulk");
  if (!form) return;
  var all = document.getElementById("check-all");
  var count = document.getElementById("bulk-count");
  var hint = count.textContent;
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name=ids]"));
  var buttons = Array.prototype.slice.call(form.querySelectorAll("button.bulk-action"));
  function update() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    count.textContent = n ? "Отмечено документов: " + n : hint;
    buttons.forEach(function (b) { b.disabled = n === 0; });
    if (all) { all.checked = n > 0 && n === boxes.length; all.indeterminate = n > 0 && n < boxes.length; }
  }
  if (all) all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    update();
  });
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  form.addEventListener("submit", function (e) {
    var action = e.submitter && e.submitter.getAttribute("formaction") || form.action;
    if (action.indexOf("/bulk/zip") < 0) {
      buttons.forEach(function (b) { b.disabled = true; });
      count.textContent = "Выполняется… не закрывайте страницу.";
    }
  });
  update();
})();
