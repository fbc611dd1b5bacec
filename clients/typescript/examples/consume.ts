// CERTFLOW_URL=http://localhost:8080 CERTFLOW_TOKEN=<subscription token> npx tsx clients/typescript/examples/consume.ts dk1
import { CertflowError, createCertflowClient } from "../src/index.js";

const client = createCertflowClient({ baseUrl: process.env.CERTFLOW_URL ?? "http://localhost:8080", token: process.env.CERTFLOW_TOKEN! });
try {
  let count = 0;
  for await (const message of client.consume(process.argv[2] ?? "dk1", { max: 100, wait: 20 })) {
    const { notification } = message;
    if (notification.type === "certificate.issued") console.log(notification.subject, notification.data.quantityWh, "Wh");
    message.ack(); // or message.nack(30), message.reject()
    if (++count === 3) break;
  }
} catch (error) {
  if (error instanceof CertflowError) console.error(error.code, error.requestId, error.detail);
  throw error;
}
