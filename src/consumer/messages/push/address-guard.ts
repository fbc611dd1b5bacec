import { lookup as dnsLookup } from "node:dns/promises";
import { isIP, type LookupFunction } from "node:net";
import { lookup as callbackLookup } from "node:dns";
import ipaddr from "ipaddr.js";

/**
 * Where a webhook may go is decided by ipaddr.js's range classification (the IANA special-purpose
 * registries): only `unicast` addresses are reachable. IPv6 forms that carry an IPv4 address
 * (mapped, SIIT, NAT64, 6to4) are judged by the IPv4 address they lead to; other translated
 * or tunnelled forms (IPv4-compatible ::/96, Teredo, local-use NAT64) are refused outright,
 * since where they lead cannot be told from the address.
 */
export function isBlockedAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return true;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv4") return parsed.range() !== "unicast";
  const v6 = parsed as ipaddr.IPv6;
  const embedded = embeddedIpv4(v6);
  if (embedded) return embedded.range() !== "unicast";
  if (isIpv4Compatible(v6)) return true;
  return v6.range() !== "unicast";
}

/** The IPv4 address of a mapped (::ffff:0:0/96), SIIT (::ffff:0:0:0/96), NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address. */
function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const bytes = address.toByteArray();
  const range = address.range();
  if (range === "ipv4Mapped" || range === "rfc6145" || (range === "rfc6052" && address.match(NAT64_WELL_KNOWN))) {
    return ipaddr.fromByteArray(bytes.slice(12)) as ipaddr.IPv4;
  }
  if (range === "6to4") return ipaddr.fromByteArray(bytes.slice(2, 6)) as ipaddr.IPv4;
  return undefined;
}

const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");
const IPV4_COMPATIBLE = ipaddr.parseCIDR("::/96");

function isIpv4Compatible(address: ipaddr.IPv6): boolean {
  return address.match(IPV4_COMPATIBLE);
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
    if (blocked) throw new BlockedAddressError(`${url.hostname} resolves to ${blocked}, a loopback, private or link-local address, or another range that is not public unicast`);
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
