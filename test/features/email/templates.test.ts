import { describe, expect, it } from "vitest";
import { formatMoney, renderEmail } from "../../../src/features/email/templates";

describe("refund-issued email", () => {
  it("states the amount in the currency's own minor units, in text and HTML", () => {
    const mail = renderEmail({
      template: "refund-issued",
      name: "Ada",
      eventTitle: "Rust Meetup",
      amount: 1250,
      currency: "EUR",
    });
    expect(mail.subject).toBe("Refund issued: Rust Meetup");
    expect(mail.text).toContain("We refunded €12.50 for Rust Meetup");
    expect(mail.html).toContain("<strong>€12.50</strong>");
    expect(formatMoney(500, "JPY")).toBe("¥500");
    expect(formatMoney(30, "GBP")).toBe("£0.30");
  });

  it("escapes every interpolated value in the HTML part (no user HTML)", () => {
    const mail = renderEmail({
      template: "refund-issued",
      name: '<img src=x onerror="alert(1)">',
      eventTitle: "A & B <script>",
      amount: 100,
      currency: "USD",
    });
    expect(mail.html).not.toContain("<img");
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(mail.html).toContain("A &amp; B &lt;script&gt;");
  });
});
