/* A session that ended answers htmx requests with the login page: load it for real. (A socket
 * refused for the same reason, 4403, is live-socket.js's business.)
 */

document.addEventListener("htmx:afterRequest", function (event) {
  const xhr = event.detail.xhr;
  const loginUrl = document.body.dataset.loginUrl;
  if (loginUrl && xhr && xhr.responseURL && xhr.responseURL.indexOf(loginUrl) !== -1) {
    window.location.reload();
  }
});
