// Keeps parts of a page fresh without a reload: every element with an id and a
// data-refresh="<seconds>" attribute is replaced, every so many seconds, by the element with
// the same id in a fresh copy of the page (same origin, never from a cache). Without
// JavaScript the page is complete as it is; a failed fetch leaves the element as it was.
(function () {
  "use strict";
  function refresh(element, seconds) {
    window.setTimeout(function () {
      fetch(window.location.pathname, {cache: "no-store", credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html")
            .getElementById(element.id);
          if (fresh) {
            element.replaceWith(fresh);
            element = fresh;
          }
        })
        .catch(function () { /* offline for a moment: try again next time */ })
        .finally(function () { refresh(element, seconds); });
    }, seconds * 1000);
  }
  document.querySelectorAll("[data-refresh][id]").forEach(function (element) {
    var seconds = Math.max(1, parseFloat(element.getAttribute("data-refresh")) || 30);
    refresh(element, seconds);
  });
})();
