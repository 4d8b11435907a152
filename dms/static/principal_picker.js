// The user/group picker: an <input list="…" data-picker="URL"> asks URL?q=… (JSON: {items: [{kind, name, label}]})
// as one types and offers the matches in its <datalist>; the value put in the field is the login, or group:NAME.
(function () {
  "use strict";
  document.querySelectorAll("input[data-picker]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var asked = "";
    input.addEventListener("input", function () {
      var q = input.value.trim();
      if (timer) { clearTimeout(timer); }
      if (!list || q === asked) { return; }
      if (q.length < 2) { asked = ""; list.replaceChildren(); return; }
      timer = setTimeout(function () {
        asked = q;
        var url = input.dataset.picker + (input.dataset.picker.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(q);
        fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : {items: []}; })
          .then(function (body) {
            if (input.value.trim() !== q) { return; }  // an older answer arriving after a newer question
            list.replaceChildren.apply(list, (body.items || []).map(function (item) {
              var option = document.createElement("option");
              option.value = item.kind === "group" ? "group:" + item.name : item.name;
              option.textContent = item.label;
              return option;
            }));
          })
          .catch(function () { /* the field still takes a typed login */ });
      }, 200);
    });
  });
})();
