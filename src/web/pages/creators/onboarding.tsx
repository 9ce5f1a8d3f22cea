/**
 * `/onboarding`: a new creator picks a name, a handle and a picture in one step. The handle field
 * asks GET /api/v1/handles/:handle as the person types (public/assets/onboarding.js) and says whether
 * it is free; the picture is uploaded first (POST /api/v1/media, purpose `avatar`) and a refused
 * upload is shown next to the file input, never swallowed: the profile is not sent without it. Then
 * POST /api/v1/me/onboarding sets all three at once (or none), and the page goes to `/@handle`.
 * The page needs its script; without one it says so.
 */
import type { AppContext } from "../../../context";
import { openName } from "../../../features/auth";
import { HANDLE_MAX_LENGTH, HANDLE_MIN_LENGTH } from "../../../lib/handle";
import { Alert, Field } from "../../components";
import { pageUser, render, seeOther } from "../../page";

/** The person's current name and handle, to start the form from. */
async function current(c: AppContext, userId: string) {
  const row = await c.env.DB.prepare(
    "SELECT u.name, p.handle FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = ?",
  )
    .bind(userId)
    .first<{ name: string; handle: string | null }>();
  return row ? { ...row, name: openName(c.get("config").pii, row.name) } : null;
}

export async function onboardingPage(c: AppContext): Promise<Response> {
  const user = pageUser(c);
  if (!user) return seeOther(c, `/login?next=${encodeURIComponent("/onboarding")}`);
  const me = await current(c, user.id);
  return render(c, {
    title: "Set up your profile",
    scripts: ["/assets/onboarding.js"],
    head: <link rel="stylesheet" href="/assets/creators.css" />,
    body: (
      <section class="card narrow onboarding">
        <h1>Set up your profile</h1>
        <p class="muted">Your page will live at /@your-handle. You can change the handle later.</p>
        <noscript>
          <Alert kind="error">This page needs JavaScript to upload your picture and check your handle.</Alert>
        </noscript>
        <form id="onboarding" novalidate>
          <div class="alert error" role="alert" id="onboarding-error" hidden />
          <Field name="name" label="Name" value={me?.name ?? ""} required maxlength={100} autocomplete="name" />
          <div class="field">
            <label for="f-handle">Handle</label>
            <p class="hint" id="f-handle-hint">
              {HANDLE_MIN_LENGTH}–{HANDLE_MAX_LENGTH} letters, digits, dots or underscores.
            </p>
            <input
              id="f-handle"
              name="handle"
              required
              value={me?.handle ?? ""}
              maxlength={60}
              autocomplete="username"
              autocapitalize="none"
              spellcheck={false}
              aria-describedby="f-handle-hint f-handle-status"
            />
            <p class="handle-status" id="f-handle-status" aria-live="polite" />
          </div>
          <div class="field">
            <label for="f-avatar">Picture (optional)</label>
            <p class="hint">JPEG, PNG, WebP or GIF, up to 10 MB.</p>
            <input id="f-avatar" name="avatar" type="file" accept="image/jpeg,image/png,image/webp,image/gif" />
            <p class="field-error" id="f-avatar-error" role="alert" hidden />
          </div>
          <p class="actions">
            <button type="submit" id="onboarding-submit">
              Save and open my page
            </button>
          </p>
        </form>
      </section>
    ),
  });
}
