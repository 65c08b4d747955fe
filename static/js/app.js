// Small progressive enhancements. Every page works without this file.
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("htmx-error");
  if (!box) {
    box = document.createElement("p");
    box.id = "htmx-error";
    box.className = "flash flash-error";
    box.setAttribute("role", "alert");
    document.getElementById("main").prepend(box);
  }
  var status = event.detail.xhr.status;
  box.textContent = status === 409 || status === 400
    ? "That action is not possible right now. Reload the page to see the latest state."
    : "Something went wrong (" + status + "). Please try again.";
});

// On phones a table's rows become cards: each cell carries its column's name, taken from
// the table's head (cells that name themselves, and columns without a visible name, keep
// theirs). Run on every page and on every piece htmx swaps in.
function labelTableCells() {
  document.querySelectorAll("table.table").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      var hidden = th.querySelector(".sr-only, input");
      return hidden ? "" : th.textContent.trim();
    });
    if (!heads.length) { return; }
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (heads[i] && !cell.hasAttribute("data-label") && !cell.hasAttribute("colspan")) {
          cell.setAttribute("data-label", heads[i]);
        }
      });
    });
  });
}
document.addEventListener("htmx:load", labelTableCells);
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", labelTableCells);
} else {
  labelTableCells();
}
