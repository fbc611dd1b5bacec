import { z } from "@hono/zod-openapi";
import { authorizedRoute } from "../../core/http/authorize.js";
import { identifier } from "../../core/notifications/certificate.js";
import { NotificationSchema } from "../../core/notifications/envelope.js";
import { PageQuerySchema, PastRetentionSchema, bearer, json, problems } from "../../core/http/openapi.js";

export const CertificateIdParamSchema = z.object({ id: identifier("id").openapi({ param: { name: "id", in: "path" } }) });

export const historyRoute = authorizedRoute({
  access: ["admin", "producer"],
  method: "get",
  path: "/v1/certificates/{id}/history",
  tags: ["certificates"],
  summary: "The notifications that changed a certificate, in the order they were accepted",
  description:
    "Admin or producer token. Cursor-paginated, oldest first.",
  security: bearer,
  request: { params: CertificateIdParamSchema, query: PageQuerySchema },
  responses: {
    200: json(
      z.object({
        certificateId: z.string(),
        notifications: z.array(z.object({ sequence: z.number().int(), acceptedAt: z.string(), notification: NotificationSchema })),
        nextCursor: z.string().nullable(),
        pastRetention: PastRetentionSchema,
      }),
      "A page of the certificate's history",
    ),
    ...problems(),
  },
});
