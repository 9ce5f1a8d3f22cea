// The social pages (/feed, /p/:id). Everything here enhances server-rendered HTML:
// - Reactions (like, repost, bookmark): the button flips and its count moves at once (optimistic);
//   PUT or DELETE /api/v1/posts/:id/<reaction> follows, and on failure both roll back with a message.
//   The answer's counts are the truth and replace the guess.
// - Live counts (/p/:id): a WebSocket to /api/v1/posts/:id/live; every message { likes, comments,
//   reposts } is written into the page. Reconnects with backoff; a removed post stops it.
// - The composer (/feed): photos go to POST /api/v1/media first, then the post to POST /api/v1/posts
//   with an Idempotency-Key (a retry of the same attempt cannot post twice).
// - "Load more" fetches the next page of /feed (the API's cursor) and appends its posts; pull down at
//   the top of the page on a touch screen to reload it.
// - Replies: "Reply" under a comment points the comment form at it.
// Text from the server is only ever set with textContent, never parsed as HTML.
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";

  async function renewSession() {
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf },
    });
    return response.ok;
  }

  /** A same-origin API call with the CSRF header; a lapsed access cookie is renewed once. */
  async function api(method, path, init = {}, retried = false) {
    const headers = new Headers(init.headers);
    headers.set("X-CSRF-Token", csrf);
    headers.set("Accept", "application/json");
    const response = await fetch(path, { ...init, method, headers, credentials: "same-origin" });
    if (response.status === 401 && !retried && (await renewSession())) return api(method, path, init, true);
    return response;
  }

  async function problemDetail(response, fallback) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : fallback;
    } catch {
      return fallback;
    }
  }

  const UNITS = { like: "likes", repost: "reposts", bookmark: "bookmarks" };

  function setCount(article, unit, value) {
    for (const el of article.querySelectorAll(`[data-count="${unit}"]`)) el.textContent = String(value);
  }

  function readCount(article, unit) {
    return Number(article.querySelector(`[data-count="${unit}"]`)?.textContent ?? "0") || 0;
  }

  function showError(article, text) {
    const box = article.querySelector(".post-error");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }

  async function react(button) {
    const article = button.closest("article[data-post-id]");
    if (!article || button.dataset.busy === "1") return;
    const reaction = button.dataset.reaction;
    const unit = UNITS[reaction];
    const wasActive = button.getAttribute("aria-pressed") === "true";
    const before = readCount(article, unit);
    button.dataset.busy = "1";
    showError(article, "");
    // Optimistic: flip now, confirm or roll back when the answer comes.
    button.setAttribute("aria-pressed", wasActive ? "false" : "true");
    setCount(article, unit, Math.max(0, before + (wasActive ? -1 : 1)));
    try {
      const id = encodeURIComponent(article.dataset.postId);
      const response = await api(wasActive ? "DELETE" : "PUT", `/api/v1/posts/${id}/${reaction}`);
      if (!response.ok) throw new Error(await problemDetail(response, "That did not work. Please try again."));
      const body = await response.json();
      button.setAttribute("aria-pressed", body.active ? "true" : "false");
      if (body.counts) {
        for (const [key, value] of Object.entries(body.counts)) setCount(article, key, value);
      }
    } catch (error) {
      button.setAttribute("aria-pressed", wasActive ? "true" : "false");
      setCount(article, unit, before);
      showError(article, error instanceof Error && error.message ? error.message : "That did not work.");
    } finally {
      delete button.dataset.busy;
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const button = target?.closest("button[data-reaction]");
    if (button) {
      event.preventDefault();
      react(button);
      return;
    }
    const reply = target?.closest("button[data-reply-to]");
    if (reply) replyTo(reply.dataset.replyTo);
    if (target?.closest("button[data-reply-cancel]")) replyTo("");
    if (target?.closest("button[data-retry]")) location.reload();
    if (target?.closest("button[data-retry-more]")) document.querySelector("a[data-more]")?.click();
  });

  // ---------------------------------------------------------------- comments and replies

  const commentForm = document.querySelector("form.comment-form");
  function replyTo(id) {
    if (!commentForm) return;
    commentForm.elements.parentId.value = id;
    const note = commentForm.querySelector(".replying");
    if (note) note.hidden = !id;
    if (id) commentForm.elements.text.focus();
  }
  commentForm?.addEventListener("submit", () => {
    // A double click must not post twice.
    for (const b of commentForm.querySelectorAll('button[type="submit"]')) b.disabled = true;
  });

  // ---------------------------------------------------------------- live counts

  const livePost = document.body.dataset.postLive;
  if (livePost && "WebSocket" in window) {
    const article = document.querySelector(`article[data-post-id]`);
    const status = document.querySelector(".live-status");
    let attempt = 0;
    let pinger = 0;
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}/api/v1/posts/${encodeURIComponent(livePost)}/live`);
      ws.addEventListener("open", () => {
        attempt = 0;
        if (status) status.hidden = true;
        document.body.dataset.live = "open";
        // Keeps proxies from closing an idle socket; answered without waking the server's object.
        pinger = setInterval(() => ws.readyState === 1 && ws.send("ping"), 30_000);
      });
      ws.addEventListener("message", (event) => {
        if (event.data === "pong") return;
        try {
          const counts = JSON.parse(event.data);
          for (const unit of ["likes", "comments", "reposts"]) {
            if (typeof counts[unit] === "number" && article) setCount(article, unit, counts[unit]);
          }
        } catch {
          // Not ours: ignored.
        }
      });
      ws.addEventListener("close", (event) => {
        clearInterval(pinger);
        document.body.dataset.live = "closed";
        if (event.code === 4404) {
          if (status) {
            status.textContent = "This post was removed.";
            status.hidden = false;
          }
          return;
        }
        attempt += 1;
        if (status && attempt > 2) {
          status.textContent = "Live counts paused; reconnecting…";
          status.hidden = false;
        }
        setTimeout(open, Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)));
      });
    };
    open();
  }

  // ---------------------------------------------------------------- the composer

  const composer = document.querySelector("form.composer");
  if (composer) {
    const error = composer.querySelector(".composer-error");
    const button = composer.querySelector('button[type="submit"]');
    let key = crypto.randomUUID();
    let keyFor = "";
    composer.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = composer.elements.text.value;
      const files = [...(composer.elements.photos?.files ?? [])].slice(0, 4);
      // The same attempt (same text, same photos) keeps its key, so a retry cannot post twice.
      const attemptId = `${text}\u0000${files.map((f) => `${f.name}:${f.size}`).join("|")}`;
      if (attemptId !== keyFor) {
        key = crypto.randomUUID();
        keyFor = attemptId;
      }
      button.disabled = true;
      error.hidden = true;
      try {
        const mediaIds = [];
        for (const file of files) {
          const form = new FormData();
          form.append("file", file);
          const uploaded = await api("POST", "/api/v1/media", { body: form });
          if (!uploaded.ok) throw new Error(await problemDetail(uploaded, "A photo could not be uploaded."));
          mediaIds.push((await uploaded.json()).id);
        }
        const response = await api("POST", "/api/v1/posts", {
          headers: { "Content-Type": "application/json", "Idempotency-Key": key },
          body: JSON.stringify(mediaIds.length ? { text, mediaIds } : { text }),
        });
        if (!response.ok) throw new Error(await problemDetail(response, "Your post could not be sent."));
        const post = await response.json();
        location.assign(`/feed?posted=${encodeURIComponent(post.id)}`);
      } catch (e) {
        error.textContent = e instanceof Error && e.message ? e.message : "Your post could not be sent.";
        error.hidden = false;
        button.disabled = false;
      }
    });
  }

  // ---------------------------------------------------------------- load more, pull to refresh

  const list = document.querySelector(".feed-list");
  const more = document.querySelector("a[data-more]");
  if (list && more) {
    const moreError = document.querySelector(".more-error");
    more.addEventListener("click", async (event) => {
      event.preventDefault();
      if (more.dataset.busy === "1") return;
      more.dataset.busy = "1";
      if (moreError) moreError.hidden = true;
      try {
        const response = await fetch(more.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (!response.ok) throw new Error(`status ${response.status}`);
        const doc = new DOMParser().parseFromString(await response.text(), "text/html");
        const items = doc.querySelectorAll(".feed-list > li");
        for (const item of items) list.append(document.importNode(item, true));
        const next = doc.querySelector("a[data-more]");
        if (next) more.href = next.href;
        else more.remove();
      } catch {
        if (moreError) moreError.hidden = false;
      } finally {
        delete more.dataset.busy;
      }
    });
  }

  const pull = document.querySelector(".pull-indicator");
  if (pull && "ontouchstart" in window) {
    const THRESHOLD = 80;
    let startY = null;
    let distance = 0;
    addEventListener(
      "touchstart",
      (event) => {
        startY = scrollY <= 0 && event.touches.length === 1 ? event.touches[0].clientY : null;
        distance = 0;
      },
      { passive: true },
    );
    addEventListener(
      "touchmove",
      (event) => {
        if (startY === null) return;
        distance = Math.max(0, event.touches[0].clientY - startY);
        pull.hidden = distance < 10;
        pull.textContent = distance >= THRESHOLD ? "Release to refresh" : "Pull to refresh";
      },
      { passive: true },
    );
    addEventListener("touchend", () => {
      if (startY !== null && distance >= THRESHOLD) {
        pull.textContent = "Refreshing…";
        location.reload();
      } else pull.hidden = true;
      startY = null;
    });
  }
})();
