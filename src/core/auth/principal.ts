export type Principal =
  | { kind: "admin" }
  | { kind: "producer"; id: string; name: string }
  | { kind: "subscription"; id: string; name: string };

export type PrincipalKind = Principal["kind"];
