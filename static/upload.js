// Uploads a transit feed in pieces: the web server takes no request body over 256 KiB (so
// that nobody can make it buffer large ones), and a city's feed is often 10-100 MB. Every
// form with data-chunks="<url>" sends its chosen file to that URL in pieces of 192 KiB, each
// with the form's CSRF token, then submits the form itself without the file (uploaded=1):
// the server imports what it assembled and answers with the page. Without JavaScript the form
// posts the file as it is, which works for small feeds.
(function () {
  "use strict";
  var PIECE = 192 * 1024;

  function say(form, text) {
    var status = form.querySelector("[data-upload-status]");
    if (status) { status.textContent = text; }
  }

  async function send(form, file) {
    var url = form.getAttribute("data-chunks");
    var csrf = form.querySelector("input[name=csrf]").value;
    for (var offset = 0; offset < file.size || offset === 0; offset += PIECE) {
      var piece = new FormData();
      piece.append("csrf", csrf);
      piece.append("offset", String(offset));
      piece.append("total", String(file.size));
      piece.append("chunk", file.slice(offset, offset + PIECE), "chunk");
      var response = await fetch(url, {method: "POST", body: piece, credentials: "same-origin"});
      if (!response.ok) {
        say(form, "The upload stopped: " + (await response.text()).slice(0, 300));
        return false;
      }
      say(form, "Uploading: " + Math.min(100, Math.round((offset + PIECE) * 100 / file.size)) + " %");
      if (file.size === 0) { break; }
    }
    return true;
  }

  document.querySelectorAll("form[data-chunks]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      var file = input && input.files[0];
      if (!file) { return; }  // the server says what is missing
      event.preventDefault();
      send(form, file).then(function (done) {
        if (!done) { return; }
        say(form, "Uploaded; importing (this may take a minute) …");
        var name = document.createElement("input");
        name.type = "hidden"; name.name = "name"; name.value = file.name;
        var flag = document.createElement("input");
        flag.type = "hidden"; flag.name = "uploaded"; flag.value = "1";
        form.append(name, flag);
        input.disabled = true;  // the pieces are there: post the form without the file
        form.submit();
      }).catch(function (error) { say(form, "The upload stopped: " + error); });
    });
  });
})();
