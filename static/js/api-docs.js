// Starts Swagger UI on /api/docs from a file, so the page needs no inline script.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    persistAuthorization: false,
  });
});
