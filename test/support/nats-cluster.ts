import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { eventually } from "./eventually.js";

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

export interface NatsNode {
  name: string;
  clientPort: number;
  clusterPort: number;
  storeDir: string;
  process?: ChildProcess;
  exited?: Promise<void>;
}

/** A JetStream cluster of its own on loopback: free ports, a store directory per node, started and killed by the test. */
export interface NatsCluster {
  nodes: NatsNode[];
  /** Every client URL, comma-separated, as NATS_URL takes it. */
  url: string;
  kill(node: NatsNode): Promise<void>;
  start(node: NatsNode): Promise<void>;
  destroy(): Promise<void>;
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const root = await mkdtemp(join(tmpdir(), "certflow-nats-"));
  const nodes: NatsNode[] = [];
  for (let index = 0; index < size; index++) {
    nodes.push({ name: `n${index + 1}`, clientPort: await freePort(), clusterPort: await freePort(), storeDir: join(root, `n${index + 1}`) });
  }
  const routes = nodes.map((node) => `nats://127.0.0.1:${node.clusterPort}`).join(",");
  const start = async (node: NatsNode) => {
    const child = spawn(
      NATS_SERVER,
      ["-a", "127.0.0.1", "-p", String(node.clientPort), "-js", "-sd", node.storeDir, "--server_name", node.name,
        "--cluster_name", "certflow-test", "--cluster", `nats://127.0.0.1:${node.clusterPort}`, "--routes", routes],
      { stdio: "ignore" },
    );
    node.process = child;
    node.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  };
  const cluster: NatsCluster = {
    nodes,
    url: nodes.map((node) => `nats://127.0.0.1:${node.clientPort}`).join(","),
    async kill(node) {
      node.process?.kill("SIGKILL");
      await node.exited;
      node.process = undefined;
    },
    async start(node) {
      await start(node);
      await untilJetStreamAnswers(`nats://127.0.0.1:${node.clientPort}`);
    },
    async destroy() {
      for (const node of nodes) node.process?.kill("SIGKILL");
      await Promise.all(nodes.map((node) => node.exited));
      await rm(root, { recursive: true, force: true });
    },
  };
  for (const node of nodes) await start(node);
  await untilJetStreamAnswers(cluster.url);
  return cluster;
}

/** JetStream answers once the cluster elected its meta leader. */
async function untilJetStreamAnswers(url: string): Promise<void> {
  await eventually(
    async () => {
      const nc = await connect({ servers: url.split(","), timeout: 1000 });
      try {
        const jsm = await jetstreamManager(nc, { timeout: 1000 });
        await jsm.getAccountInfo();
      } finally {
        await nc.close();
      }
    },
    { timeoutMs: 30_000, intervalMs: 200, what: "the NATS cluster's JetStream" },
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
