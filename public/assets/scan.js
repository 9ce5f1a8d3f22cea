/**
 * The scanner app's entry (a classic script, so it carries the page's nonce): loads the app's
 * modules, which the CSP's 'strict-dynamic' trusts because this script loads them.
 */
import("/assets/scan/app.js").catch((error) => {
  const loading = document.getElementById("scan-loading");
  if (loading) loading.textContent = `The scanner could not load: ${error.message}`;
});
