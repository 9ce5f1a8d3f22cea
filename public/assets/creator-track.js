// A public profile (/@handle) counts its visit: the page's signed tracking token (data-tracking-token
// on <body>) and the referrer, whose host alone the server keeps. Without cookies, so a signed-in
// visitor's session is not sent along (and the request needs no CSRF token); keepalive lets it finish
// when the visitor leaves at once. Failures are ignored: counting must never disturb the page.
(() => {
  const token = document.body.dataset.trackingToken;
  if (!token) return;
  const body = JSON.stringify(document.referrer ? { token, referrer: document.referrer } : { token });
  fetch("/api/v1/track/visit", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body,
    credentials: "omit",
    keepalive: true,
  }).catch(() => {});
})();
