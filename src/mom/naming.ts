/**
 * Every stream, subject and consumer name carries the namespace, so several deployments or
 * test runs share one NATS server without seeing each other.
 */
export interface Naming {
  namespace: string;
  notificationsStream: string;
  /** Subject filter matching every partition of the notifications stream. */
  notificationsFilter: string;
  notificationSubject(partition: number): string;
  wakeSubject(subscriptionId: string): string;
  wakeFilter: string;
  prefillSubject: string;
  commandsSubject: string;
}

export function naming(namespace: string): Naming {
  return {
    namespace,
    notificationsStream: `${namespace}_NOTIFICATIONS`,
    notificationsFilter: `${namespace}.notifications.*`,
    notificationSubject: (partition) => `${namespace}.notifications.${partition}`,
    wakeSubject: (subscriptionId) => `${namespace}.wake.${subscriptionId}`,
    wakeFilter: `${namespace}.wake.*`,
    prefillSubject: `${namespace}.prefill.requested`,
    commandsSubject: `${namespace}.registry.commands.accepted`,
  };
}

/** FNV-1a: a stable, fast hash so one certificate's notifications always share a partition. */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}
