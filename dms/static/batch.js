// Polls the batch's progress and reloads the page when it ends.
(function () {
  var box = document.getElementById("batch");
  if (!box) return;
  var stages = {queued: "в очереди", signing: "формирование и подпись", storing: "сохранение", done: "готово", failed: "ошибка"};
  function poll() {
    fetch(box.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (b) {
      document.getElementById("bar").value = b.done;
      document.getElementById("stage").textContent = "Этап: " + (stages[b.stage] || b.stage) + " — " + b.done + " из " + b.total;
      if (b.stage === "done" || b.stage === "failed") { window.location.reload(); } else { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  if (box.dataset.stage !== "done" && box.dataset.stage !== "failed") setTimeout(poll, 1000);
})();
