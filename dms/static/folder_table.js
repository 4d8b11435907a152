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
    count.textContent = n ? count.dataset.msgSelected.replace("{n}", n) : hint;
    buttons.forEach(function (b) { b.disabled = n === 0; });
    if (all) { all.checked = n > 0 && n === boxes.length; all.indeterminate = n > 0 && n < boxes.length; }
  }
  if (all) all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    update();
  });
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  var panel = document.getElementById("bulk-progress");
  var CHUNK = 5;  // documents per request: each answer moves the bar and fills the table
  function say(key, values) {
    return panel.dataset["msg" + key].replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }
  function cell(row, text, href) {
    var td = row.insertCell();
    if (href) { var a = document.createElement("a"); a.href = href; a.textContent = text; td.appendChild(a); }
    else td.textContent = text;
  }
  // Bulk changes run chunk by chunk from here, so the page shows live progress; without this script the form
  // posts everything at once and the server answers with the result page.
  function runLive(action, ids) {
    var bar = panel.querySelector("progress"), status = panel.querySelector(".status");
    var body = panel.querySelector("tbody");
    var fields = new FormData(form);
    fields.delete("ids");
    var state = {done: 0, ok: 0, refused: 0, total: ids.length};
    body.textContent = "";
    bar.max = ids.length; bar.value = 0;
    panel.hidden = false;
    buttons.forEach(function (b) { b.disabled = true; });
    status.textContent = say("Running", state);
    function next() {
      if (state.done >= ids.length) { status.textContent = say("Finished", state); return; }
      var chunk = ids.slice(state.done, state.done + CHUNK), data = new FormData();
      fields.forEach(function (v, k) { data.append(k, v); });
      chunk.forEach(function (id) { data.append("ids", id); });
      fetch(action, {method: "POST", body: data, credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) {
          if ((r.headers.get("Content-Type") || "").indexOf("json") < 0) throw new Error("HTTP " + r.status);
          return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || "HTTP " + r.status); return j; });
        })
        .then(function (j) {
          j.results.forEach(function (r) {
            var row = body.insertRow();
            row.className = r.ok ? "ok" : "refused";
            cell(row, r.title || say("Document", r), r.title ? "/documents/" + r.id : null);
            cell(row, r.reg_number || "—");
            cell(row, (r.ok ? "✔ " : "✘ " + panel.dataset.msgRefused) + r.message);
            if (r.ok) state.ok++; else state.refused++;
          });
          state.done += chunk.length;
          bar.value = state.done;
          status.textContent = say("Running", state);
          next();
        })
        .catch(function (err) { state.error = err.message; status.textContent = say("Failed", state); });
    }
    next();
  }
  form.addEventListener("submit", function (e) {
    var button = e.submitter;
    var action = button && button.getAttribute("formaction") || form.action;
    if (panel && button && button.hasAttribute("data-live") && window.fetch && window.FormData) {
      e.preventDefault();
      runLive(action, boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; }));
    } else if (action.indexOf("/bulk/zip") < 0) {
      buttons.forEach(function (b) { b.disabled = true; });
      count.textContent = count.dataset.msgBusy;
    }
  });
  update();
})();
