// Payout pages: modal dialogs, closing them after an action, "select all", and the
// bank form's IBAN / US account switch. Every page also works without this file.
(function () {
  // Boosted navigation runs this file again with each payout page: listen once.
  if (window.payoutsScript) return;
  window.payoutsScript = true;

  function openDialogs(root) {
    (root.querySelectorAll ? root.querySelectorAll("dialog[data-modal]") : []).forEach(function (dialog) {
      if (!dialog.open && document.body.contains(dialog)) {
        dialog.showModal();
        var first = dialog.querySelector("textarea, input:not([type=hidden])");
        if (first) first.focus();
      }
    });
  }

  function closeDialogs() {
    document.querySelectorAll("#dialog-slot dialog").forEach(function (dialog) { dialog.remove(); });
  }

  function showAccountKind(form) {
    var checked = form.querySelector("input[name=account_kind]:checked");
    if (!checked) return;
    form.querySelectorAll(".kind").forEach(function (box) {
      box.hidden = !box.classList.contains("kind-" + checked.value);
    });
  }

  document.addEventListener("htmx:afterSettle", function (event) { openDialogs(event.detail.elt); });
  document.addEventListener("payouts-changed", closeDialogs);

  document.addEventListener("click", function (event) {
    var close = event.target.closest(".dialog-close");
    if (close && close.closest("#dialog-slot")) {
      event.preventDefault();
      closeDialogs();
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.classList.contains("select-all")) {
      document.querySelectorAll("input[name=ids][form=bulk-form]:not([disabled])").forEach(function (box) {
        box.checked = target.checked;
      });
    }
    if (target.name === "account_kind") showAccountKind(target.form);
  });

  function init() {
    document.querySelectorAll("input[name=account_kind]").forEach(function (input) {
      showAccountKind(input.form);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
  document.addEventListener("htmx:load", init);
})();
