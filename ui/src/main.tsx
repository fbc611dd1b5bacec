import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { apiFor, call, optional, storeToken, storedToken, type Api, type Schemas } from "./api";
import { Progress, Sparkline } from "./charts";
import "./style.css";

const POLL_MS = 2000;
const HISTORY = 60;
const COMMAND_STATES = ["queued", "sending", "sent", "committed", "failed", "indeterminate"] as const;

type Described = Schemas["Subscription"] & { stats: { pending: number; acked: number; deadLettered: number; oldestPendingAt: string | null } };
interface History {
  pending: number[];
  throughput: number[];
  oldestAge: number[];
  lastAcked?: number;
  lastAt?: number;
}

function usePoll<T>(load: () => Promise<T>, deps: unknown[], ms = POLL_MS): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then(
        (value) => live && (setData(() => value), setError(undefined)),
        (failure: unknown) => live && setError((failure as Error).message),
      );
    void run();
    const timer = setInterval(run, ms);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((value) => value + 1) };
}

const age = (iso: string | null) => (iso ? Math.max(0, (Date.now() - Date.parse(iso)) / 1000) : 0);
const ageText = (seconds: number) => (seconds < 120 ? `${seconds.toFixed(0)} s` : seconds < 7200 ? `${(seconds / 60).toFixed(0)} min` : `${(seconds / 3600).toFixed(1)} h`);

function Subscriptions({ api, onSelect }: { api: Api; onSelect: (name: string) => void }) {
  const history = useRef(new Map<string, History>());
  const { data, error } = usePoll(async () => {
    const page = await call(api.GET("/v1/subscriptions", { params: { query: { limit: 500 } } }));
    const described = await Promise.all(
      page.data.map((sub) => call(api.GET("/v1/subscriptions/{name}", { params: { path: { name: sub.name } } })) as Promise<Described>),
    );
    const now = Date.now();
    for (const sub of described) {
      const entry = history.current.get(sub.name) ?? { pending: [], throughput: [], oldestAge: [] };
      const rate = entry.lastAt && entry.lastAcked !== undefined ? ((sub.stats.acked - entry.lastAcked) * 1000) / (now - entry.lastAt) : 0;
      const push = (list: number[], value: number) => list.push(value) > HISTORY && list.shift();
      push(entry.pending, sub.stats.pending);
      push(entry.throughput, Math.max(0, rate));
      push(entry.oldestAge, Math.round(age(sub.stats.oldestPendingAt)));
      entry.lastAcked = sub.stats.acked;
      entry.lastAt = now;
      history.current.set(sub.name, entry);
    }
    return described;
  }, [api]);
  return (
    <section id="subscriptions">
      <h2>Subscriptions</h2>
      {error && <p class="error">{error}</p>}
      {data && data.length === 0 && <p class="muted">No subscriptions yet: create one with POST /v1/subscriptions or `npx certflow subscriptions create`.</p>}
      {data && data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>name</th>
              <th>status</th>
              <th>mode</th>
              <th>pending</th>
              <th>latency: oldest waiting</th>
              <th>throughput (acks/s)</th>
              <th>acked</th>
              <th>dead letters</th>
            </tr>
          </thead>
          <tbody>
            {data.map((sub) => {
              const entry = history.current.get(sub.name);
              return (
                <tr key={sub.name} data-subscription={sub.name}>
                  <td>
                    <a href="#dead-letters" onClick={() => onSelect(sub.name)}>
                      {sub.name}
                    </a>
                  </td>
                  <td>{sub.status}</td>
                  <td>{sub.delivery.mode}</td>
                  <td class="pending">
                    <Sparkline values={entry?.pending ?? [sub.stats.pending]} label={`pending of ${sub.name}`} />
                  </td>
                  <td class="oldest" title={sub.stats.oldestPendingAt ? `since ${sub.stats.oldestPendingAt}` : "nothing waiting"}>
                    <Sparkline values={entry?.oldestAge ?? [0]} label={`seconds the oldest message of ${sub.name} has waited`} unit=" s" />
                    <span class="muted"> {sub.stats.oldestPendingAt ? ageText(age(sub.stats.oldestPendingAt)) : "—"}</span>
                  </td>
                  <td>
                    <Sparkline values={entry?.throughput ?? [0]} label={`acks per second of ${sub.name}`} />
                  </td>
                  <td>{sub.stats.acked}</td>
                  <td class="dead">{sub.stats.deadLettered}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function DeadLetters({ api, subscription }: { api: Api; subscription: string | undefined }) {
  const [message, setMessage] = useState<string>();
  const { data, error, reload } = usePoll(
    async () =>
      subscription ? call(api.GET("/v1/subscriptions/{name}/dead-letters", { params: { path: { name: subscription }, query: { limit: 100 } } })) : undefined,
    [api, subscription],
  );
  const redrive = async (ids?: string[]) => {
    const result = await call(
      api.POST("/v1/subscriptions/{name}/dead-letters/redrive", { params: { path: { name: subscription! } }, body: ids ? { ids } : {} }),
    );
    setMessage(`${result.redriven} redriven`);
    reload();
  };
  return (
    <section id="dead-letters">
      <h2>Dead letters {subscription && <small>of {subscription}</small>}</h2>
      {!subscription && <p class="muted">Pick a subscription above.</p>}
      {error && <p class="error">{error}</p>}
      {message && <p class="ok">{message}</p>}
      {data && data.deadLetters.length === 0 && <p class="muted">None.</p>}
      {data && data.deadLetters.length > 0 && (
        <>
          <button onClick={() => redrive()}>Redrive all</button>
          <table>
            <thead>
              <tr>
                <th>id</th>
                <th>reason</th>
                <th>deliveries</th>
                <th>type</th>
                <th>subject</th>
                <th>at</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.deadLetters.map((letter) => (
                <tr key={letter.id}>
                  <td>{letter.id}</td>
                  <td>{letter.reason}</td>
                  <td>{letter.deliveryCount}</td>
                  <td>{letter.notification.type}</td>
                  <td>{letter.notification.subject}</td>
                  <td>{new Date(letter.deadLetteredAt).toLocaleString()}</td>
                  <td>
                    <button onClick={() => redrive([letter.id])}>Redrive</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

type Trace = { notification: Schemas["Notification"]; ancestors: Schemas["Notification"][]; descendants: Schemas["TraceTree"][] };

const NotificationLabel = ({ notification, current }: { notification: Schemas["Notification"]; current?: boolean }) => (
  <span class={current ? "node current" : "node"}>
    <b>{notification.type}</b> {notification.subject} <code>{notification.id}</code>
  </span>
);

function NotificationSearch({ api }: { api: Api }) {
  const [id, setId] = useState("");
  const [found, setFound] = useState<{ described: Schemas["DeliveryState"][]; trace: Trace }>();
  const [error, setError] = useState<string>();
  const search = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      const path = { params: { path: { id: id.trim() } } };
      const [described, trace] = await Promise.all([call(api.GET("/v1/notifications/{id}", path)), call(api.GET("/v1/notifications/{id}/trace", path))]);
      setFound({ described: described.deliveries, trace: trace as Trace });
    } catch (failure) {
      setFound(undefined);
      setError((failure as Error).message);
    }
  };
  // The chain from the root down to this notification, then what it caused, as one tree.
  const tree = (trace: Trace) => {
    let nodes: Schemas["TraceTree"][] = [{ notification: trace.notification, children: trace.descendants }];
    for (const ancestor of [...trace.ancestors].reverse()) nodes = [{ notification: ancestor, children: nodes }];
    return nodes;
  };
  return (
    <section id="trace">
      <h2>Notification search and trace</h2>
      <form onSubmit={search}>
        <input name="notification-id" placeholder="notification id (UUID)" value={id} onInput={(event) => setId((event.target as HTMLInputElement).value)} size={40} />
        <button type="submit">Trace</button>
      </form>
      {error && <p class="error">{error}</p>}
      {found && (
        <>
          <div class="tree" data-current={found.trace.notification.id}>
            <TreeWithCurrent nodes={tree(found.trace)} current={found.trace.notification.id} />
          </div>
          <h3>Delivery per subscription</h3>
          <table>
            <tbody>
              {found.described.map((state) => (
                <tr key={state.subscription}>
                  <td>{state.subscription}</td>
                  <td>{state.status}</td>
                  <td>{state.deliveryCount} deliveries</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function TreeWithCurrent({ nodes, current }: { nodes: Schemas["TraceTree"][]; current: string }) {
  return (
    <ul>
      {nodes.map((node) => (
        <li key={node.notification.id}>
          <NotificationLabel notification={node.notification} current={node.notification.id === current} />
          {node.children.length > 0 && <TreeWithCurrent nodes={node.children} current={current} />}
        </li>
      ))}
    </ul>
  );
}

const CONVERSIONS_KEY = "certflow.conversions";

function Conversions({ api }: { api: Api }) {
  const [ids, setIds] = useState<string[]>(() => JSON.parse(sessionStorage.getItem(CONVERSIONS_KEY) ?? "[]") as string[]);
  const [input, setInput] = useState("");
  useEffect(() => sessionStorage.setItem(CONVERSIONS_KEY, JSON.stringify(ids)), [ids]);
  const { data: statistics } = usePoll(() => call(api.GET("/v1/statistics")), [api], 5000);
  const { data, error } = usePoll(
    () => Promise.all(ids.map((id) => call(api.GET("/v1/conversions/{id}", { params: { path: { id } } })).catch(() => undefined))),
    [api, ids.join()],
  );
  return (
    <section id="conversions">
      <h2>Conversions</h2>
      {statistics && (
        <p class="muted">
          {statistics.conversions.count} conversions:{" "}
          {Object.entries(statistics.conversions.byStatus)
            .map(([status, count]) => `${count} ${status}`)
            .join(", ")}
        </p>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (input.trim()) setIds((list) => [...new Set([input.trim(), ...list])]);
          setInput("");
        }}
      >
        <input placeholder="conversion id to follow" value={input} onInput={(event) => setInput((event.target as HTMLInputElement).value)} size={40} />
        <button type="submit">Follow</button>
      </form>
      {error && <p class="error">{error}</p>}
      <table>
        <tbody>
          {(data ?? []).map(
            (conversion) =>
              conversion && (
                <tr key={conversion.id}>
                  <td>
                    <code>{conversion.id}</code>
                  </td>
                  <td>{conversion.annualCertificateId}</td>
                  <td>{conversion.status}</td>
                  <td>
                    <Progress percent={conversion.progress.percent} /> {conversion.progress.percent}% {conversion.progress.step}
                  </td>
                  <td>{conversion.validation ? (conversion.validation.valid ? "valid" : "INVALID") : ""}</td>
                </tr>
              ),
          )}
        </tbody>
      </table>
    </section>
  );
}

type CommandList = { data?: Array<Record<string, unknown>>; commands?: Array<Record<string, unknown>> };

/** Hidden until the server has GET /v1/commands (the registry connector). */
function RegistryCommands({ token }: { token: string }) {
  const { data } = usePoll(async () => {
    const lists = await Promise.all(COMMAND_STATES.map((state) => optional<CommandList>(token, `/v1/commands?state=${state}&limit=100`)));
    if (lists.some((list) => list === undefined)) return undefined;
    return COMMAND_STATES.map((state, index) => ({ state, commands: lists[index]!.data ?? lists[index]!.commands ?? [] }));
  }, [token], 5000);
  if (!data) return null;
  return (
    <section id="commands">
      <h2>Registry commands</h2>
      <div class="columns">
        {data.map(({ state, commands }) => (
          <div key={state}>
            <h3>
              {state} <small>{commands.length}</small>
            </h3>
            <ul>
              {commands.slice(0, 20).map((command) => (
                <li key={String(command.id)}>
                  {String(command.type ?? "")} {String(command.certificateId ?? "")}
                </li>
              ))}
            </ul>
          </div>
        ))}
      </div>
    </section>
  );
}

/** Hidden until the server has GET /v1/cluster (process and partition ownership). */
function Cluster({ token }: { token: string }) {
  const { data } = usePoll(() => optional<unknown>(token, "/v1/cluster"), [token], 5000);
  if (data === undefined) return null;
  const rows = Array.isArray(data) ? data : Object.values(data as Record<string, unknown>).find(Array.isArray) ?? [];
  const columns = [...new Set((rows as Array<Record<string, unknown>>).flatMap((row) => Object.keys(row)))];
  return (
    <section id="cluster">
      <h2>Processes and partitions</h2>
      <table>
        <thead>
          <tr>{columns.map((column) => <th key={column}>{column}</th>)}</tr>
        </thead>
        <tbody>
          {(rows as Array<Record<string, unknown>>).map((row, index) => (
            <tr key={index}>{columns.map((column) => <td key={column}>{typeof row[column] === "object" ? JSON.stringify(row[column]) : String(row[column] ?? "")}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Login({ onToken }: { onToken: (token: string) => void }) {
  const [token, setToken] = useState("");
  return (
    <form
      class="login"
      onSubmit={(event) => {
        event.preventDefault();
        onToken(token.trim());
      }}
    >
      <h1>certflow</h1>
      <p>The admin token (CERTFLOW_ADMIN_TOKEN). It stays in this tab's session storage.</p>
      <input type="password" name="token" autoComplete="current-password" value={token} onInput={(event) => setToken((event.target as HTMLInputElement).value)} size={40} />
      <button type="submit">Open</button>
    </form>
  );
}

function App() {
  const [token, setToken] = useState(storedToken);
  const [selected, setSelected] = useState<string>();
  const [refused, setRefused] = useState<string>();
  const api = token ? apiFor(token) : undefined;
  useEffect(() => {
    if (!token) return;
    void fetch("/v1/producers?limit=1", { headers: { authorization: `Bearer ${token}` } }).then((response) => {
      if (response.status === 401 || response.status === 403) {
        setRefused("That token is not the admin token.");
        storeToken("");
        setToken("");
      }
    });
  }, [token]);
  if (!token || !api)
    return (
      <>
        {refused && <p class="error">{refused}</p>}
        <Login onToken={(value) => (storeToken(value), setRefused(undefined), setToken(value))} />
      </>
    );
  return (
    <main>
      <header>
        <h1>certflow</h1>
        <nav>
          <a href="/docs">API reference</a> · <a href="/metrics">metrics</a> ·{" "}
          <a href="#" onClick={() => (storeToken(""), setToken(""))}>
            sign out
          </a>
        </nav>
      </header>
      <Subscriptions api={api} onSelect={setSelected} />
      <DeadLetters api={api} subscription={selected} />
      <NotificationSearch api={api} />
      <Conversions api={api} />
      <RegistryCommands token={token} />
      <Cluster token={token} />
    </main>
  );
}

render(<App />, document.getElementById("app")!);
