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
