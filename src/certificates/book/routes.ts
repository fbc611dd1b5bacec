import { createRoute, z } from "@hono/zod-openapi";
import { identifier } from "../../core/notifications/certificate.js";
import { NotificationSchema } from "../../core/notifications/envelope.js";
import { PageQuerySchema, bearer, json, problems } from "../../core/http/openapi.js";

export const CertificateIdParamSchema = z.object({ id: identifier("id").openapi({ param: { name: "id", in: "path" } }) });

export const historyRoute = createRoute({
  method: "get",
  path: "/v1/certificates/{id}/history",
  tags: ["certificates"],
  summary: "The notifications that changed a certificate, in the order they were accepted",
  security: bearer,
  request: { params: CertificateIdParamSchema, query: PageQuerySchema },
  responses: {
    200: json(
      z.object({
        certificateId: z.string(),
        notifications: z.array(z.object({ sequence: z.number().int(), acceptedAt: z.string(), notification: NotificationSchema })),
        nextCursor: z.string().nullable(),
      }),
      "A page of the certificate's history",
    ),
    ...problems(),
  },
});
