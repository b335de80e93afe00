// The transformation editor (templates/media/editor.html): a crop box dragged on the original, and
// sliders kept in step with their fields. The preview, saving and the saved list are htmx and the
// server; this only fills in the form and asks htmx for a new preview ("editor-refresh").
(function () {
  "use strict";
  var MIN_CROP = 2;  // original pixels; a click without a drag clears the crop instead
  var drag = null;

  function byId(id) { return document.getElementById(id); }
  function field(name) { return document.querySelector('#editor-form [name="' + name + '"]'); }
  function clamp(value, low, high) { return Math.min(Math.max(value, low), high); }
  function original() {
    var root = byId("editor");
    return { w: Number(root.dataset.width), h: Number(root.dataset.height) };
  }
  function refresh() {
    var form = byId("editor-form");
    if (form && window.htmx) window.htmx.trigger(form, "editor-refresh");
  }

  // --- crop: the fields hold the box in original pixels; the box on screen follows them ---------

  function cropBox() {
    var box = { x: field("crop_x").value, y: field("crop_y").value, w: field("crop_width").value, h: field("crop_height").value };
    for (var key in box) {
      if (box[key] === "" || isNaN(Number(box[key]))) return null;
      box[key] = Number(box[key]);
    }
    return box;
  }

  function setCrop(box) {
    var size = original();
    if (box) {
      box.x = clamp(Math.round(box.x), 0, size.w - 1);
      box.y = clamp(Math.round(box.y), 0, size.h - 1);
      box.w = clamp(Math.round(box.w), 1, size.w - box.x);
      box.h = clamp(Math.round(box.h), 1, size.h - box.y);
    }
    field("crop_x").value = box ? box.x : "";
    field("crop_y").value = box ? box.y : "";
    field("crop_width").value = box ? box.w : "";
    field("crop_height").value = box ? box.h : "";
    drawBox();
  }

  // Original pixels per CSS pixel of the picture on screen.
  function screenScale() {
    var img = byId("crop-source"), size = original();
    return { x: size.w / (img.clientWidth || 1), y: size.h / (img.clientHeight || 1) };
  }

  function drawBox() {
    var element = byId("crop-box");
    if (!element) return;
    var box = cropBox(), scale = screenScale();
    element.hidden = !box;
    if (!box) return;
    // Through CSSOM: the CSP forbids style attributes, not this.
    element.style.left = box.x / scale.x + "px";
    element.style.top = box.y / scale.y + "px";
    element.style.width = box.w / scale.x + "px";
    element.style.height = box.h / scale.y + "px";
  }

  function pointerAt(event) {
    var rect = byId("crop-source").getBoundingClientRect(), scale = screenScale(), size = original();
    return { x: clamp((event.clientX - rect.left) * scale.x, 0, size.w),
             y: clamp((event.clientY - rect.top) * scale.y, 0, size.h) };
  }

  function between(a, b) {
    return { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) };
  }

  function dragged(point) {
    var box = drag.box, size = original();
    if (drag.mode === "new") return between(drag.start, point);
    if (drag.mode === "move") {
      return { x: clamp(box.x + point.x - drag.start.x, 0, size.w - box.w),
               y: clamp(box.y + point.y - drag.start.y, 0, size.h - box.h), w: box.w, h: box.h };
    }
    // A corner: the opposite corner stays where it is.
    var fixed = { x: drag.mode.indexOf("w") >= 0 ? box.x + box.w : box.x,
                  y: drag.mode.indexOf("n") >= 0 ? box.y + box.h : box.y };
    return between(fixed, point);
  }

  document.addEventListener("pointerdown", function (event) {
    var area = event.target.closest && event.target.closest("#crop-area");
    if (!area || !event.isPrimary || event.button > 0) return;
    var point = pointerAt(event), box = cropBox(), handle = event.target.closest(".crop-handle");
    var inside = box && point.x >= box.x && point.x <= box.x + box.w && point.y >= box.y && point.y <= box.y + box.h;
    drag = { mode: handle ? handle.dataset.corner : (inside ? "move" : "new"), start: point, box: box };
    area.setPointerCapture(event.pointerId);
    event.preventDefault();
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var box = dragged(pointerAt(event));
    if (box.w >= 1 && box.h >= 1) setCrop(box);
  });

  function endDrag() {
    if (!drag) return;
    drag = null;
    var box = cropBox();
    if (box && (box.w < MIN_CROP || box.h < MIN_CROP)) setCrop(null);
    refresh();
  }
  document.addEventListener("pointerup", endDrag);
  document.addEventListener("pointercancel", endDrag);

  // --- sliders and fields that move together ---------------------------------------------------

  function scaleToSlider(slider) {
    var box = cropBox() || original(), percent = Number(slider.value);
    byId("scale-value").textContent = percent + "%";
    field("resize_width").value = percent === 100 ? "" : Math.max(1, Math.round(box.w * percent / 100));
    field("resize_height").value = percent === 100 ? "" : Math.max(1, Math.round(box.h * percent / 100));
  }

  function turn(degrees) {
    var angle = ((Number(field("rotate").value) || 0) + degrees) % 360;
    if (angle > 180) angle -= 360;
    if (angle <= -180) angle += 360;
    field("rotate").value = angle;
    byId("rotate-range").value = angle;
    field("rotate").dispatchEvent(new Event("input", { bubbles: true }));
  }

  // Each format has its own default quality; lossless ones have none, and then none is sent.
  function followFormat() {
    var select = byId("format"), slider = byId("quality");
    if (!select || !slider) return;
    var defaults = JSON.parse(slider.dataset.defaults), chosen = select.value || select.dataset.original;
    slider.disabled = !defaults[chosen];
    if (defaults[chosen]) slider.value = defaults[chosen];
    byId("quality-value").textContent = defaults[chosen] ? slider.value : "";
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target.closest || !target.closest("#editor-form")) return;
    if (target.id === "scale") scaleToSlider(target);
    else if (target.id === "rotate-range") field("rotate").value = target.value;
    else if (target.id === "rotate") byId("rotate-range").value = target.value;
    else if (target.id === "quality") byId("quality-value").textContent = target.value;
    else if (target.name && target.name.indexOf("crop_") === 0) drawBox();
  });

  document.addEventListener("change", function (event) {
    if (event.target.id === "format") followFormat();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("#editor-form [data-turn], #crop-clear");
    if (!button) return;
    if (button.id === "crop-clear") {
      setCrop(null);
      refresh();
    } else {
      turn(Number(button.dataset.turn));
    }
  });

  document.addEventListener("reset", function (event) {
    if (event.target.id !== "editor-form") return;
    // The browser puts the values back after this event: look at them a moment later.
    setTimeout(function () {
      byId("scale-value").textContent = "100%";
      followFormat();
      drawBox();
      refresh();
    }, 0);
  });

  // The picture's size on screen is known once it has loaded, and changes with the window.
  document.addEventListener("load", function (event) {
    if (event.target.id === "crop-source") drawBox();
  }, true);
  window.addEventListener("resize", drawBox);
  document.addEventListener("DOMContentLoaded", drawBox);
  document.addEventListener("htmx:load", function () { if (byId("editor")) drawBox(); });
})();
