-- Deliveries recorded before this rule may share an event id (one event sent to several
-- subscriptions); the oldest keeps it, the others keep only their webhook id.
UPDATE "webhook_events" AS w SET "event_id" = NULL WHERE "event_id" IS NOT NULL AND EXISTS (SELECT 1 FROM "webhook_events" AS o WHERE o."event_id" = w."event_id" AND (o."received_at", o."webhook_id") < (w."received_at", w."webhook_id"));--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_event_id" UNIQUE("event_id");
