// A little help on top of plain forms (every page works without it): a form is sent once, not twice on a
// double click (a posted form), and a page showing a refusal moves the keyboard focus to it so a screen reader reads it.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.method !== "post") { return; }  // a GET form (filters, a download) may be sent again at once
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  setTimeout(function () { delete form.dataset.sent; }, 5000);
});
document.addEventListener("DOMContentLoaded", function () {
  var alert = document.querySelector("[role=alert]");
  if (alert) { alert.setAttribute("tabindex", "-1"); alert.focus(); }
});
// The 销号 form's print button (printing from the browser's menu works as well).
document.addEventListener("click", function (event) {
  if (event.target.closest && event.target.closest("[data-print]")) { window.print(); }
});
