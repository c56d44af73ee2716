// The refund application page, on top of a page that works without JavaScript:
// - with htmx loaded, the "update the quote" button is hidden (choosing a reason updates the quote in place);
// - a server-side error summary takes the focus, so it is read and seen first;
// - the evidence picker shows each chosen file (a thumbnail for images, the name for PDFs) with a remove
//   button, and says at once when a file is too big, of a wrong type, or one too many. The server checks
//   everything again (refunds/evidence.py).
(function () {
  "use strict";
  if (window.htmx) { document.documentElement.classList.add("htmx-on"); }

  function focusSummary() {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  var chosen = new WeakMap();  // picker element -> array of File

  function say(picker, messages) {
    var box = picker.querySelector(".evidence-client-errors");
    if (box) { box.textContent = messages.join(" "); }
  }

  function fill(template, name) { return template.split("{name}").join(name); }

  function mainInput(picker) { return picker.querySelector("input[type=file]:not(.evidence-camera-input)"); }

  function sync(picker) {
    // Everything kept goes in the main input; the camera input is emptied once its photo was moved.
    var files = chosen.get(picker) || [];
    var input = mainInput(picker);
    var camera = picker.querySelector(".evidence-camera-input");
    if (window.DataTransfer) {
      var transfer = new DataTransfer();
      files.forEach(function (file) { transfer.items.add(file); });
      input.files = transfer.files;
      if (camera) { camera.value = ""; }
    }
    render(picker, files);
  }

  function render(picker, files) {
    var list = picker.querySelector(".evidence-previews");
    list.textContent = "";
    files.forEach(function (file, index) {
      var item = document.createElement("li");
      item.className = "evidence-preview";
      if (file.type.indexOf("image/") === 0 && window.createImageBitmap) {
        var canvas = document.createElement("canvas");
        canvas.className = "evidence-thumb";
        canvas.width = 96;
        canvas.height = 96;
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", file.name);
        item.appendChild(canvas);
        // A canvas, not an <img> from a blob: URL: the CSP allows images from this site only.
        createImageBitmap(file).then(function (bitmap) {
          var scale = Math.min(96 / bitmap.width, 96 / bitmap.height);
          var w = bitmap.width * scale, h = bitmap.height * scale;
          canvas.getContext("2d").drawImage(bitmap, (96 - w) / 2, (96 - h) / 2, w, h);
        }).catch(function () { /* the name below still says which file it is */ });
      } else {
        var icon = document.createElement("span");
        icon.className = "evidence-doc";
        icon.textContent = "PDF";
        item.appendChild(icon);
      }
      var name = document.createElement("span");
      name.className = "evidence-name";
      name.textContent = file.name;
      item.appendChild(name);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link evidence-remove";
      remove.dataset.index = String(index);
      remove.textContent = picker.dataset.msgRemove || "×";
      remove.setAttribute("aria-label", (picker.dataset.msgRemove || "") + " " + file.name);
      item.appendChild(remove);
      list.appendChild(item);
    });
  }

  function add(picker, incoming) {
    var files = (chosen.get(picker) || []).slice();
    var types = (picker.dataset.types || "").split(" ");
    var maxBytes = Number(picker.dataset.maxBytes);
    var maxFiles = Number(picker.dataset.maxFiles);
    var problems = [];
    Array.prototype.forEach.call(incoming, function (file) {
      if (types.indexOf(file.type) === -1) { problems.push(fill(picker.dataset.msgType, file.name)); return; }
      if (file.size > maxBytes) { problems.push(fill(picker.dataset.msgSize, file.name)); return; }
      if (files.length >= maxFiles) {
        if (problems.indexOf(picker.dataset.msgCount) === -1) { problems.push(picker.dataset.msgCount); }
        return;
      }
      files.push(file);
    });
    chosen.set(picker, files);
    say(picker, problems);
    sync(picker);
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file") { return; }
    var picker = input.closest(".evidence-picker");
    if (!picker || !window.DataTransfer) { return; }
    // The input now holds only the new choice: the earlier ones are kept in front of it.
    add(picker, Array.prototype.slice.call(input.files || []));
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".evidence-remove");
    if (!button) { return; }
    var picker = button.closest(".evidence-picker");
    var files = (chosen.get(picker) || []).slice();
    files.splice(Number(button.dataset.index), 1);
    chosen.set(picker, files);
    say(picker, []);
    sync(picker);
  });

  // After htmx put the new quote in place, say its total (a screen reader hears no page load).
  document.addEventListener("htmx:afterSwap", function () {
    var status = document.getElementById("quote-status");
    var total = document.querySelector("#apply-quote .quote-total");
    if (status) { status.textContent = total ? total.textContent.replace(/\s+/g, " ").trim() : ""; }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusSummary);
  } else {
    focusSummary();
  }
}());
