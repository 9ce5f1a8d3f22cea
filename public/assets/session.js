// Idle timeout warning (signed-in pages). The session ends after data-idle-seconds without a request;
// five minutes before that, a dialog offers to stay signed in (a refresh, which counts as activity).
// When the time is up the page goes to the sign-in page, which says why. Signing out clears the
// offline copies this browser keeps.
(() => {
  const idleSeconds = Number(document.body.dataset.idleSeconds);
  if (!idleSeconds) return;
  const warnBefore = Math.min(5 * 60, Math.floor(idleSeconds / 2));
  const dialog = document.getElementById("idle-warning");
  const left = document.getElementById("idle-left");
  const stay = document.getElementById("idle-stay");
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
  let deadline = 0;
  let warnTimer = 0;
  let endTimer = 0;
  let tick = 0;

  function schedule() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    clearInterval(tick);
    deadline = Date.now() + idleSeconds * 1000;
    warnTimer = setTimeout(warn, (idleSeconds - warnBefore) * 1000);
    endTimer = setTimeout(expire, idleSeconds * 1000);
  }

  function remaining() {
    const seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    const minutes = Math.floor(seconds / 60);
    return minutes >= 1 ? `${minutes} minute${minutes === 1 ? "" : "s"} ${seconds % 60} s` : `${seconds} seconds`;
  }

  function warn() {
    if (!dialog) return;
    left.textContent = remaining();
    tick = setInterval(() => {
      left.textContent = remaining();
    }, 1000);
    if (!dialog.open) dialog.showModal();
    stay?.focus();
  }

  function expire() {
    const next = location.pathname + location.search;
    location.assign(`/login?expired=1&next=${encodeURIComponent(next)}`);
  }

  stay?.addEventListener("click", async () => {
    stay.disabled = true;
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf },
      });
      if (!response.ok) return expire();
      dialog?.close();
      schedule();
    } finally {
      stay.disabled = false;
    }
  });

  // Signing out from any page forgets what this browser keeps for offline use (the wallet's saved
  // copy, public/assets/wallet-sw.js) before the form goes: the next person at this device sees none of it.
  for (const form of document.querySelectorAll('form[action="/logout"]')) {
    form.addEventListener("submit", (event) => {
      if (form.dataset.cleared === "1" || !("caches" in window)) return;
      event.preventDefault();
      form.dataset.cleared = "1";
      caches
        .keys()
        .then((keys) =>
          Promise.all(keys.filter((key) => key.startsWith("gatehouse-wallet-")).map((k) => caches.delete(k))),
        )
        .catch(() => {})
        .finally(() => form.submit());
    });
  }

  schedule();
})();
