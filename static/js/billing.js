// The payment page and the card page. Card fields come from Stripe.js (through
// stripe-adapter.js); the forms post with htmx and the server answers with the new state.
(function () {
  "use strict";
  if (window.M4Billing) { return; }
  window.M4Billing = true;

  var adapter = null;
  var cards = new WeakMap();

  function settings() {
    var el = document.getElementById("stripe-settings");
    return el && { publishableKey: el.dataset.publishableKey, jsUrl: el.dataset.jsUrl, mode: el.dataset.mode };
  }

  function getAdapter() {
    if (!adapter) { adapter = window.M4StripeAdapter.create(settings()); }
    return adapter;
  }

  function csrfToken() {
    var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    return headers["X-CSRFToken"];
  }

  function showError(form, message) {
    var box = form.querySelector("#card-errors");
    if (box) { box.textContent = message || ""; }
  }

  function mountCards(root) {
    root.querySelectorAll("[data-card-mount]").forEach(function (mount) {
      if (cards.has(mount)) { return; }
      cards.set(mount, null);
      getAdapter().then(function (a) {
        cards.set(mount, a.mountCard(mount));
      }).catch(function (err) { showError(mount.closest("form"), err.message); });
    });
  }

  function cardOf(form) {
    var mount = form.querySelector("[data-card-mount]");
    return mount && cards.get(mount);
  }

  function showNewCardFields(form) {
    var fields = form.querySelector("[data-new-card-fields]");
    var chosen = form.querySelector("input[name=card]:checked");
    if (fields) { fields.hidden = !(chosen && chosen.hasAttribute("data-new-card")); }
  }

  function continueAfterAction(root) {
    var step = root.querySelector("[data-client-secret]");
    var form = document.getElementById("pay-form");
    if (!step || !form || step.dataset.handled) { return; }
    step.dataset.handled = "1";
    getAdapter().then(function (a) {
      return a.handleAction(step.dataset.clientSecret);
    }).then(function (problem) {
      if (problem) { showError(form, problem.message); }
    }, function (err) {
      showError(form, err.message);
    }).then(function () {
      // Whatever happened in the bank's window, the server asks Stripe for the real state.
      form.elements.after_action.value = "1";
      window.htmx.trigger(form, "submit");
    });
  }

  function init(root) {
    if (!document.getElementById("stripe-settings")) { return; }
    mountCards(root);
    var payForm = document.getElementById("pay-form");
    if (payForm) { showNewCardFields(payForm); }
    continueAfterAction(root);
  }

  // Before the payment form posts a new card, turn it into a Stripe id.
  function beforePay(evt, form) {
    var chosen = form.querySelector("input[name=card]:checked");
    if (form.elements.after_action.value === "1" || !chosen || !chosen.hasAttribute("data-new-card")) { return; }
    evt.preventDefault();
    showError(form, "");
    getAdapter().then(function (a) {
      return a.cardToId(cardOf(form));
    }).then(function (id) {
      form.elements.provider_method_id.value = id;
      evt.detail.issueRequest(true);
    }).catch(function (err) { showError(form, err.message); });
  }

  // Before the card form posts, confirm the card with a SetupIntent (3-D Secure if asked).
  function beforeSave(evt, form) {
    if (form.elements.setup_intent_id.value) { return; }
    evt.preventDefault();
    showError(form, "");
    fetch(form.dataset.setupUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error((body.error && body.error.message) || "The card could not be saved."); }
        return body.client_secret;
      });
    }).then(function (secret) {
      return getAdapter().then(function (a) { return a.setupCard(secret, cardOf(form)); });
    }).then(function (setupIntent) {
      form.elements.setup_intent_id.value = setupIntent.id;
      evt.detail.issueRequest(true);
    }).catch(function (err) { showError(form, err.message); });
  }

  document.addEventListener("htmx:confirm", function (evt) {
    var form = evt.detail.elt;
    if (form.id === "pay-form") { beforePay(evt, form); }
    if (form.id === "card-form") { beforeSave(evt, form); }
  });

  document.addEventListener("change", function (evt) {
    if (evt.target.name === "card") { showNewCardFields(evt.target.form); }
  });

  // A saved card resets the card form for the next one.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (form.id === "card-form" && evt.detail.successful) {
      form.elements.setup_intent_id.value = "";
      var mount = form.querySelector("[data-card-mount]");
      var card = cards.get(mount);
      if (card && card.clear) { card.clear(); }
      if (card && !card.clear) { card.destroy(); cards.delete(mount); mountCards(form); }
    }
    if (form.id === "card-form" && !evt.detail.successful) { form.elements.setup_intent_id.value = ""; }
  });

  document.addEventListener("htmx:load", function (evt) { init(evt.detail.elt); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
