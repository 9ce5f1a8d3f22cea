// The tip form on a creator's page (/@handle): amount chips or a custom amount, a message, a guest's
// email. Sends POST /api/v1/profiles/:handle/tips with an Idempotency-Key made once per page, so a
// double click or a retry after a lost answer is the same tip (the server answers the same checkout),
// then follows the answer to Stripe Checkout. A signed-in fan's session cookie goes along with the
// page's CSRF token; errors are shown in the form's alert, never lost.
(() => {
  const form = document.getElementById("tip-form");
  if (!form) return;
  const error = document.getElementById("tip-error");
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
  const handle = form.dataset.handle ?? "";
  const currency = form.dataset.currency ?? "USD";
  let key = crypto.randomUUID();
  let lastBody = "";

  function show(message) {
    if (!error) return;
    error.textContent = message;
    error.hidden = false;
  }

  function amountOf(data) {
    const chip = data.get("chip");
    if (chip && chip !== "custom") return Number(chip);
    const custom = Number.parseFloat(String(data.get("custom") ?? ""));
    return Number.isFinite(custom) ? Math.round(custom * 100) : Number.NaN;
  }

  form.addEventListener("input", (event) => {
    // Typing an amount picks "Other".
    if (event.target?.name === "custom") {
      const other = form.querySelector('input[name="chip"][value="custom"]');
      if (other) other.checked = true;
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (error) error.hidden = true;
    const data = new FormData(form);
    const amount = amountOf(data);
    const min = Number(form.dataset.min);
    const max = Number(form.dataset.max);
    if (!Number.isInteger(amount) || amount < min || amount > max) {
      show(`Choose an amount between ${(min / 100).toFixed(2)} and ${(max / 100).toFixed(2)} ${currency}.`);
      return;
    }
    const body = { amount, currency };
    const message = String(data.get("message") ?? "").trim();
    if (message) body.message = message;
    const email = data.get("email");
    if (email !== null) body.email = String(email);
    const json = JSON.stringify(body);
    // A different tip gets a new key; the same one (a retry) keeps it.
    if (lastBody && json !== lastBody) key = crypto.randomUUID();
    lastBody = json;
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      const response = await fetch(`/api/v1/profiles/${encodeURIComponent(handle)}/tips`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key, "X-CSRF-Token": csrf },
        body: json,
      });
      const answer = await response.json().catch(() => ({}));
      if (response.status === 201 && answer.checkoutUrl) {
        location.assign(answer.checkoutUrl);
        return;
      }
      show(answer.detail ?? "The tip could not be sent. Try again.");
    } catch {
      show("No connection. Try again: the same tip will not be charged twice.");
    } finally {
      if (button) button.disabled = false;
    }
  });
})();
