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

// Accounts: the sign-up form asks for an hourly rate from tutors only, and the time zone
// select starts at the browser's zone (Intl), which the user can still change.
function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; } catch (e) { return null; }
}

function hasOption(select, value) {
  return Array.prototype.some.call(select.options, function (o) { return o.value === value; });
}

function showTutorFields(form) {
  var tutor = form.querySelector('input[name="role"][value="tutor"]');
  form.querySelectorAll("[data-tutor-only]").forEach(function (box) {
    box.hidden = !(tutor && tutor.checked);
  });
}

function setUpAccountForms(root) {
  root.querySelectorAll("form").forEach(function (form) {
    if (form.querySelector("[data-tutor-only]")) showTutorFields(form);
  });
  var zone = browserZone();
  root.querySelectorAll('select[name="time_zone"]').forEach(function (select) {
    if (!zone || !hasOption(select, zone) || select.dataset.guessed) return;
    select.dataset.guessed = "1";
    // At sign-up a zone nobody chose yet is the browser's; on the profile, offer it.
    if (select.form && select.form.querySelector('input[name="role"]')) {
      if (select.value === "UTC" && !select.closest(".has-error")) select.value = zone;
    } else if (select.value !== zone) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-sm";
      button.textContent = "Use this browser's zone (" + zone.replace(/_/g, " ") + ")";
      button.addEventListener("click", function () { select.value = zone; select.focus(); });
      select.insertAdjacentElement("afterend", button);
    }
  });
}

document.addEventListener("change", function (event) {
  if (event.target.name === "role" && event.target.form) showTutorFields(event.target.form);
});
document.addEventListener("DOMContentLoaded", function () { setUpAccountForms(document); });
document.addEventListener("htmx:load", function (event) { setUpAccountForms(event.target); });

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
