// Polls the batch's progress and reloads the page when it ends.
(function () {
  var box = document.getElementById("batch");
  if (!box) return;
  // Stage names and the line's wording come translated from the page (batch.html).
  var stages = JSON.parse(box.dataset.stages);
  function poll() {
    fetch(box.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (b) {
      document.getElementById("bar").value = b.done;
      document.getElementById("stage").textContent = box.dataset.stageText
        .replace("{stage}", stages[b.stage] || b.stage).replace("{done}", b.done).replace("{total}", b.total);
      // Ended, or given back to a person (a prepared batch refused; a stuck one waiting for the PIN): the page shows why.
      if (b.stage === "done" || b.stage === "failed" || b.stage === "prepared" || b.stuck) {
        window.location.reload();
      } else { setTimeout(poll, 1000); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  if (box.dataset.stage !== "done" && box.dataset.stage !== "failed") setTimeout(poll, 1000);
})();
