// Uploads: drop, pick or paste many files; each goes up on its own request with its own progress,
// speed and result, three at a time. The tray lives outside the swapped page (hx-preserve), so
// uploads keep going while the person browses.
(function () {
  "use strict";
  var queue = [];
  var running = 0;
  var PARALLEL = 3;

  function tray() { return document.getElementById("upload-tray"); }
  function csrfToken() {
    var token = document.getElementById("csrf-token");
    return token ? token.dataset.token : "";
  }
  function uploadUrl() {
    var zone = document.getElementById("dropzone");
    return zone ? zone.dataset.uploadUrl : "/upload";
  }
  function formatBytes(n) {
    var units = ["B", "KB", "MB", "GB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }

  function addRow(file) {
    var box = tray();
    box.hidden = false;
    var row = document.createElement("li");
    row.className = "upload-row";
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name || "clipboard.png";
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    var status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = box.dataset.waiting;
    row.append(name, bar, status);
    box.classList.remove("upload-tray-collapsed");
    box.querySelector(".upload-tray-title").textContent = box.dataset.title;
    box.querySelector(".upload-list").prepend(row);
    return { row: row, bar: bar, status: status };
  }

  function enqueue(files) {
    // The album is read now: the person may be on another page by the time the file is sent.
    var album = document.getElementById("upload-album");
    var albumId = album ? album.value : "";
    Array.from(files).forEach(function (file) { queue.push({ file: file, ui: addRow(file), albumId: albumId }); });
    pump();
  }

  function pump() {
    while (running < PARALLEL && queue.length) {
      running += 1;
      send(queue.shift());
    }
  }

  function send(job) {
    var box = tray();
    var xhr = new XMLHttpRequest();
    var started = Date.now();
    var form = new FormData();
    form.append("file", job.file, job.file.name || "clipboard.png");
    if (job.albumId) form.append("album_id", job.albumId);
    xhr.open("POST", uploadUrl());
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      job.ui.bar.value = Math.round((event.loaded / event.total) * 100);
      var seconds = Math.max((Date.now() - started) / 1000, 0.001);
      job.ui.status.textContent = formatBytes(event.loaded / seconds) + "/s";
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status === 201 && body) {
        job.ui.bar.value = 100;
        job.ui.row.classList.add("upload-ok");
        job.ui.status.textContent = "";
        var link = document.createElement("a");
        link.href = body.page_url;
        link.textContent = box.dataset.done;
        job.ui.status.append(link);
        document.dispatchEvent(new CustomEvent("shoebox:uploaded", { detail: body }));
      } else {
        fail(job, body && body.error ? body.error.message : box.dataset.failed + " (" + xhr.status + ")");
      }
      finish();
    });
    xhr.addEventListener("error", function () { fail(job, box.dataset.network); finish(); });
    xhr.send(form);
  }

  function fail(job, message) {
    job.ui.row.classList.add("upload-failed");
    job.ui.status.textContent = message;
  }

  function finish() {
    running -= 1;
    pump();
    if (!running && !queue.length) summarise();
  }

  // When everything is done the tray shrinks to one line ("5 uploaded · 1 failed"), so it stops
  // covering the page; a click on that line opens it again.
  function summarise() {
    var box = tray();
    var ok = box.querySelectorAll(".upload-ok").length;
    var failed = box.querySelectorAll(".upload-failed").length;
    var parts = [ok + " × " + box.dataset.done];
    if (failed) parts.push(failed + " × " + box.dataset.failed);
    box.querySelector(".upload-tray-title").textContent = parts.join(" · ");
    setTimeout(function () { if (!running && !queue.length) box.classList.add("upload-tray-collapsed"); }, 2500);
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "file-input" && event.target.files.length) {
      enqueue(event.target.files);
      event.target.value = "";
    }
  });
  document.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest("#dropzone");
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("dropzone-active");
  });
  document.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest("#dropzone");
    if (zone) zone.classList.remove("dropzone-active");
  });
  document.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest("#dropzone");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("dropzone-active");
    if (event.dataTransfer && event.dataTransfer.files.length) enqueue(event.dataTransfer.files);
  });
  document.addEventListener("paste", function (event) {
    if (!document.getElementById("dropzone") || !event.clipboardData) return;
    var files = Array.from(event.clipboardData.files || []);
    if (files.length) { event.preventDefault(); enqueue(files); }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest(".upload-tray-title")) {
      tray().classList.toggle("upload-tray-collapsed");
      return;
    }
    if (event.target.closest(".upload-tray-close")) {
      var box = tray();
      if (!running && !queue.length) {
        box.hidden = true;
        box.querySelector(".upload-list").replaceChildren();
      }
    }
  });
})();
