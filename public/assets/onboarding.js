// The onboarding page (/onboarding): a live "is this handle free?" hint, then one submit that uploads
// the picture (if any) and sets name, handle and picture together. A refused upload is shown next to
// the file input and the profile is not sent. Server text is only ever set with textContent.
(() => {
  const form = document.getElementById("onboarding");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
  const handle = document.getElementById("f-handle");
  const status = document.getElementById("f-handle-status");
  const avatar = document.getElementById("f-avatar");
  const avatarError = document.getElementById("f-avatar-error");
  const formError = document.getElementById("onboarding-error");
  const submit = document.getElementById("onboarding-submit");

  const REASONS = {
    invalid: "Use 3–30 letters, digits, dots or underscores (no dot at either end).",
    reserved: "This handle is reserved.",
    taken: "This handle is taken.",
  };

  function show(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }

  async function detail(response, fallback) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : fallback;
    } catch {
      return fallback;
    }
  }

  async function api(path, init) {
    const headers = new Headers(init.headers);
    headers.set("X-CSRF-Token", csrf);
    headers.set("Accept", "application/json");
    return fetch(path, { ...init, headers, credentials: "same-origin" });
  }

  // Live hint: asked 350 ms after typing stops; an answer to an older spelling is ignored.
  let timer = 0;
  let asked = "";
  handle.addEventListener("input", () => {
    clearTimeout(timer);
    status.textContent = "";
    const value = handle.value.trim();
    if (!value) return;
    timer = setTimeout(async () => {
      asked = value;
      try {
        const response = await fetch(`/api/v1/handles/${encodeURIComponent(value)}`, { credentials: "same-origin" });
        if (asked !== value) return;
        if (response.status === 429) {
          status.textContent = "Checked too often; wait a moment.";
          return;
        }
        const body = await response.json();
        status.dataset.state = body.available ? "available" : "unavailable";
        status.textContent = body.available ? `@${body.handle} is free.` : (REASONS[body.reason] ?? "Not available.");
      } catch {
        status.textContent = "";
      }
    }, 350);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(formError, "");
    show(avatarError, "");
    submit.disabled = true;
    try {
      let avatarMediaId;
      const file = avatar.files?.[0];
      if (file) {
        const body = new FormData();
        body.append("file", file);
        body.append("purpose", "avatar");
        const uploaded = await api("/api/v1/media", { method: "POST", body });
        if (!uploaded.ok) {
          show(avatarError, `Your picture was not uploaded: ${await detail(uploaded, "the upload failed.")}`);
          avatar.focus();
          return;
        }
        avatarMediaId = (await uploaded.json()).id;
      }
      const name = form.elements.namedItem("name").value;
      const response = await api("/api/v1/me/onboarding", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name, handle: handle.value, ...(avatarMediaId ? { avatarMediaId } : {}) }),
      });
      if (!response.ok) {
        show(formError, await detail(response, "Your profile could not be saved. Try again."));
        return;
      }
      const saved = await response.json();
      location.assign(`/@${encodeURIComponent(saved.handle)}`);
    } catch {
      show(formError, "The connection failed. Try again.");
    } finally {
      submit.disabled = false;
    }
  });
})();
