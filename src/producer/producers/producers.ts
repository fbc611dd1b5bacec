import type { CredentialResolver } from "../../core/auth/credentials.js";
import { generateToken, hashToken } from "../../core/auth/tokens.js";
import { conflict, notFound } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { ProducerRecord, ProducerStore } from "./producer-store.js";

/** Producer credentials: made by the admin, shown once, stored only as a hash. */
export class Producers {
  constructor(
    private readonly store: ProducerStore,
    private readonly credentials: CredentialResolver,
  ) {}

  async register(name: string, description: string | undefined): Promise<{ producer: ProducerRecord; token: string }> {
    const token = generateToken("producer");
    const producer = await this.store.insert({ id: uuidv7(), name, description: description ?? null }, hashToken(token));
    if (!producer) throw conflict(`a producer named ${name} exists; its token cannot be shown again (POST /v1/producers/${name}/token issues a new one)`);
    return { producer, token };
  }

  list(limit: number, afterName?: string): Promise<ProducerRecord[]> {
    return this.store.list(limit, afterName);
  }

  /** A new token for an existing producer; the old one stops working at once in this process, within the auth cache time elsewhere. */
  async rotateToken(name: string): Promise<string> {
    const token = generateToken("producer");
    const id = await this.store.replaceToken(name, hashToken(token));
    if (!id) throw notFound(`producer ${name}`);
    this.credentials.forget(id);
    return token;
  }

  async revoke(name: string): Promise<void> {
    const id = await this.store.delete(name);
    if (!id) throw notFound(`producer ${name}`);
    this.credentials.forget(id);
  }
}
