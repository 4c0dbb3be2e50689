// Starts Swagger UI on the API documentation page (kept out of the HTML for the CSP).
window.addEventListener("DOMContentLoaded", function () {
  var target = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: target.dataset.specUrl,
    domNode: target,
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false
  });
});
