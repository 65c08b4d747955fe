// The one place that knows Stripe.js from localstripe's Stripe.js. The portal confirms
// payments on the server, so the page needs only: a card field, the card as an id the
// server can attach, a 3-D Secure step for an intent the server left in
// `requires_action`, and a card set up with a SetupIntent.
//
// What differs (localstripe 1.15.10): its createPaymentMethod does nothing, so a new card
// becomes a token (`tok_…`, from createToken; the server turns it into a card on the
// customer); it has no handleNextAction, and its confirmCardPayment completes 3-D Secure
// for an intent already in `requires_action` — which is exactly our case. And its script
// declares a global `class Element`, which hides the DOM's `Element` from every script on
// the page (htmx's `instanceof Element` checks stop working); see `isolateLocalstripe`.
(function () {
  "use strict";
  if (window.M4StripeAdapter) { return; }

  function loadScript(url) {
    if (window.Stripe) { return Promise.resolve(); }
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = url;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("The payment form could not load. Check your connection and reload the page.")); };
      document.head.appendChild(script);
    });
  }

  function failure(error, fallback) {
    var message = (error && error.message) || fallback;
    if (!message || message === "Bad request") { message = fallback; }
    return new Error(message);
  }

  // Give the page the DOM's Element back, and lend localstripe its own class only for the
  // synchronous start of the two calls that use it (creating the card field, and the
  // `instanceof` check that begins confirmCardSetup).
  var lendElement = null;

  function isolateLocalstripe() {
    /* global Element: writable */
    if (lendElement) { return lendElement; }
    var domElement = window.Element;
    var localElement = Element;
    Element = domElement;
    lendElement = function (call) {
      Element = localElement;
      try { return call(); } finally { Element = domElement; }
    };
    return lendElement;
  }

  // localstripe's card field takes the number as bare digits (and moves on to the expiry
  // after 16 characters): drop the spaces and dashes people type, before it reads them.
  // A listener capturing on the mount runs before the field's own.
  function acceptSpacedNumbers(mount) {
    mount.addEventListener("input", function (evt) {
      var input = evt.target;
      if (input.getAttribute("placeholder") !== "number") { return; }
      var digits = input.value.replace(/[\s-]/g, "");
      if (digits !== input.value) { input.value = digits; }
    }, true);
  }

  function create(settings) {
    var local = settings.mode === "localstripe";
    return loadScript(settings.jsUrl).then(function () {
      var withOwnElement = local ? isolateLocalstripe() : function (call) { return call(); };
      var stripe = window.Stripe(settings.publishableKey);
      return {
        mode: settings.mode,

        mountCard: function (element) {
          var card = withOwnElement(function () {
            return stripe.elements().create("card", { hidePostalCode: true });
          });
          card.mount(element);
          if (local) { acceptSpacedNumbers(element); }
          return card;
        },

        cardToId: function (card) {
          if (!card) { return Promise.reject(new Error("The card form is still loading. Try again in a moment.")); }
          if (local) {
            if (!card.value) { return Promise.reject(new Error("Enter your card details.")); }
            return stripe.createToken(card).then(function (result) {
              if (result.error) { throw failure(result.error, "Check your card number, expiry and CVC."); }
              return result.token.id;
            });
          }
          return stripe.createPaymentMethod({ type: "card", card: card }).then(function (result) {
            if (result.error) { throw failure(result.error, "Check your card details."); }
            return result.paymentMethod.id;
          });
        },

        handleAction: function (clientSecret) {
          var step = local
            ? stripe.confirmCardPayment(clientSecret)
            : stripe.handleNextAction({ clientSecret: clientSecret });
          return step.then(function (result) {
            return result && result.error ? failure(result.error, "Your bank did not confirm the payment.") : null;
          });
        },

        setupCard: function (clientSecret, card) {
          if (!card) { return Promise.reject(new Error("The card form is still loading. Try again in a moment.")); }
          if (local && !card.value) { return Promise.reject(new Error("Enter your card details.")); }
          return withOwnElement(function () {
            return stripe.confirmCardSetup(clientSecret, { payment_method: { card: card } });
          }).then(function (result) {
            if (result.error) { throw failure(result.error, "The card could not be saved."); }
            return result.setupIntent;
          });
        }
      };
    });
  }

  window.M4StripeAdapter = { create: create };
})();
