import { describe, expect, it } from "vitest";
import { clientIp, ipKey } from "../../src/lib/ip";

describe("clientIp", () => {
  it("trusts CF-Connecting-IP only", () => {
    expect(clientIp(new Headers({ "CF-Connecting-IP": "192.0.2.1", "X-Forwarded-For": "10.0.0.1" }))).toBe("192.0.2.1");
    expect(clientIp(new Headers({ "X-Forwarded-For": "10.0.0.1", "X-Real-IP": "10.0.0.2" }))).toBeNull();
  });
});

describe("ipKey", () => {
  it.each([
    ["192.0.2.1", "ip:192.0.2.1"],
    ["2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"],
    ["2001:db8:1:2::ffff", "ip:2001:db8:1:2::/64"],
    ["2001:DB8:0001:0002:aaaa::1", "ip:2001:db8:1:2::/64"],
    ["2001:db8::1", "ip:2001:db8:0:0::/64"],
    ["::1", "ip:0:0:0:0::/64"],
    ["fe80::1%eth0", "ip:fe80:0:0:0::/64"],
    ["::ffff:192.0.2.9", "ip:192.0.2.9"],
    ["::ffff:c000:209", "ip:192.0.2.9"],
  ])("%s → %s", (ip, key) => {
    expect(ipKey(ip)).toBe(key);
  });

  it("puts every address of one /64 under one key and neighbouring /64s under others", () => {
    expect(ipKey("2001:db8:a:b:1::1")).toBe(ipKey("2001:db8:a:b:ffff:ffff:ffff:ffff"));
    expect(ipKey("2001:db8:a:b::1")).not.toBe(ipKey("2001:db8:a:c::1"));
  });

  it("does not crash on junk", () => {
    expect(ipKey("1:2:3:4:5:6:7:8:9")).toBe("ip:1:2:3:4:5:6:7:8:9");
    expect(ipKey(":::")).toBe("ip::::");
  });
});
