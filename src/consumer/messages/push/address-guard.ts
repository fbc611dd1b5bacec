import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { lookup as callbackLookup } from "node:dns";

/** Addresses a webhook must not reach: loopback, private, link-local (cloud metadata), and the like. */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  BLOCKED.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
  ["2001:db8::", 32],
] as const) {
  BLOCKED.addSubnet(network, prefix, "ipv6");
}

/** The IPv4 address an IPv6 address carries (mapped ::ffff:a.b.c.d or NAT64 64:ff9b::/96), if any. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join(".");
}

export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return BLOCKED.check(address, "ipv4");
  if (family !== 6) return true;
  const v4 = embeddedIpv4(address);
  if (v4) return BLOCKED.check(v4, "ipv4");
  return BLOCKED.check(address, "ipv6");
}

export class BlockedAddressError extends Error {
  override name = "BlockedAddressError";
}

/**
 * Decides where webhooks may go. Checked when a URL is registered, and again on every
 * connection (the resolver is wrapped), so a name that later resolves to a private address
 * (DNS rebinding) is still refused.
 */
export class AddressGuard {
  constructor(private readonly allowPrivate: boolean) {}

  /** Resolves the URL's host; throws a BlockedAddressError naming the address when it is not allowed. */
  async check(url: URL): Promise<void> {
    if (this.allowPrivate) return;
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const addresses = isIP(host) ? [host] : (await dnsLookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
    const blocked = addresses.find(isBlockedAddress);
    if (blocked) throw new BlockedAddressError(`${url.hostname} resolves to ${blocked}, a loopback, private or link-local address`);
  }

  /** A resolver for sockets that fails the connection when every resolved address is blocked. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    callbackLookup(hostname, { ...options, all: true, verbatim: true }, (error, addresses) => {
      if (error) return (callback as (err: Error | null) => void)(error);
      const list = (addresses as unknown as Array<{ address: string; family: number }>).filter(
        (entry) => this.allowPrivate || !isBlockedAddress(entry.address),
      );
      if (list.length === 0) {
        const blockedError = Object.assign(new BlockedAddressError(`${hostname} resolves only to loopback, private or link-local addresses`), {
          code: "EBLOCKED",
        });
        return (callback as (err: Error | null) => void)(blockedError);
      }
      if ((options as { all?: boolean }).all) return (callback as (err: null, addresses: typeof list) => void)(null, list);
      const [first] = list;
      (callback as (err: null, address: string, family: number) => void)(null, first!.address, first!.family);
    });
  };
}
