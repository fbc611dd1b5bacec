#!/usr/bin/env node
// The `certflow` command (`npx certflow ...` from a checkout): runs the TypeScript CLI through tsx.
import { register } from "tsx/esm/api";

register();
await import("../clients/cli/main.ts");
