/* Approval settings: redraw the route diagram as the thresholds are typed. The server draws it
   (refunds.admin.settings.routes_view, the same routing code); without JavaScript the page shows
   the diagram of the saved settings. */
(function () {
  "use strict";

  function start() {
    var diagram = document.getElementById("route-diagram");
    if (!diagram || !diagram.dataset.url) {
      return;
    }
    var names = ["small_below", "large_above", "exchange_head_above"];
    var inputs = names.map(function (name) { return document.getElementById("id_" + name); });
    if (inputs.some(function (input) { return !input; })) {
      return; // read-only page: the saved settings' diagram is the one to show
    }
    var message = document.createElement("p");
    message.className = "errornote route-error";
    message.hidden = true;
    diagram.parentNode.insertBefore(message, diagram);
    var timer = null;
    var asked = 0;

    function redraw() {
      var query = new URLSearchParams();
      names.forEach(function (name, i) { query.set(name, inputs[i].value); });
      var mine = ++asked;
      fetch(diagram.dataset.url + "?" + query.toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (mine !== asked) {
            return; // a newer request is on its way
          }
          if (answer.error) {
            message.textContent = answer.error;
            message.hidden = false;
            diagram.classList.add("route-stale");
            return;
          }
          message.hidden = true;
          diagram.classList.remove("route-stale");
          var holder = document.createElement("template");
          holder.innerHTML = answer.html;
          var fresh = holder.content.firstElementChild;
          var open = diagram.querySelector("details[open]") !== null;
          diagram.replaceChildren.apply(diagram, Array.prototype.slice.call(fresh.childNodes));
          var details = diagram.querySelector("details");
          if (details && open) {
            details.open = true;
          }
        })
        .catch(function () { /* offline: the diagram keeps its last drawing */ });
    }

    inputs.forEach(function (input) {
      input.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(redraw, 250);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
