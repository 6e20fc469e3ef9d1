CREATE TABLE "credit_pending" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"shop" text NOT NULL,
	"plan_id" text NOT NULL,
	"credits" integer NOT NULL,
	"price" numeric(12, 2) NOT NULL,
	"currency" text NOT NULL,
	"sandbox" boolean NOT NULL,
	"purchase_gid" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_pending_purchase_gid" UNIQUE("purchase_gid"),
	CONSTRAINT "credit_pending_status" CHECK ("credit_pending"."status" in ('pending', 'credited', 'declined', 'expired')),
	CONSTRAINT "credit_pending_credits_positive" CHECK ("credit_pending"."credits" > 0)
);
--> statement-breakpoint
CREATE TABLE "credit_transactions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"shop" text NOT NULL,
	"delta" integer NOT NULL,
	"reason" text NOT NULL,
	"reference" text NOT NULL,
	"balance_after" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_transactions_shop_reason_reference" UNIQUE("shop","reason","reference"),
	CONSTRAINT "credit_transactions_delta_non_zero" CHECK ("credit_transactions"."delta" <> 0),
	CONSTRAINT "credit_transactions_balance_after_non_negative" CHECK ("credit_transactions"."balance_after" >= 0)
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"shop" text NOT NULL,
	"key" text NOT NULL,
	"status_code" integer NOT NULL,
	"response" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_keys_pk" PRIMARY KEY("shop","key")
);
--> statement-breakpoint
CREATE TABLE "images" (
	"id" uuid PRIMARY KEY NOT NULL,
	"shop" text NOT NULL,
	"operation" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"filename" text NOT NULL,
	"original_path" text NOT NULL,
	"processed_path" text,
	"provider_task_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "images_provider_task_id" UNIQUE("provider_task_id"),
	CONSTRAINT "images_status" CHECK ("images"."status" in ('pending', 'queued', 'processing', 'processed', 'failed')),
	CONSTRAINT "images_operation" CHECK ("images"."operation" in ('remove-bg', 'upscale', 'downscale'))
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"run_at" timestamp with time zone DEFAULT now() NOT NULL,
	"locked_until" timestamp with time zone,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "jobs_status" CHECK ("jobs"."status" in ('queued', 'active', 'completed', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"shop" text PRIMARY KEY NOT NULL,
	"background_removal" boolean NOT NULL,
	"optimize_images" boolean NOT NULL,
	"avatar_path" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "shop_credits" (
	"shop" text PRIMARY KEY NOT NULL,
	"balance" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "shop_credits_balance_non_negative" CHECK ("shop_credits"."balance" >= 0)
);
--> statement-breakpoint
CREATE TABLE "shops" (
	"domain" text PRIMARY KEY NOT NULL,
	"access_token_enc" text,
	"access_token_expires_at" timestamp with time zone,
	"refresh_token_enc" text,
	"refresh_token_expires_at" timestamp with time zone,
	"scopes" text,
	"plan" text DEFAULT 'free' NOT NULL,
	"installed_at" timestamp with time zone,
	"uninstalled_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_events" (
	"webhook_id" text PRIMARY KEY NOT NULL,
	"shop" text NOT NULL,
	"topic" text NOT NULL,
	"event_id" text,
	"triggered_at" timestamp with time zone,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "credit_pending" ADD CONSTRAINT "credit_pending_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_transactions" ADD CONSTRAINT "credit_transactions_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "settings" ADD CONSTRAINT "settings_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "shop_credits" ADD CONSTRAINT "shop_credits_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "credit_pending_status_created" ON "credit_pending" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "credit_transactions_shop_created" ON "credit_transactions" USING btree ("shop","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "idempotency_keys_created" ON "idempotency_keys" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "images_shop_created" ON "images" USING btree ("shop","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "images_shop_status" ON "images" USING btree ("shop","status");--> statement-breakpoint
CREATE INDEX "images_status_updated" ON "images" USING btree ("status","updated_at");--> statement-breakpoint
CREATE INDEX "jobs_status_run_at" ON "jobs" USING btree ("status","run_at");--> statement-breakpoint
CREATE INDEX "webhook_events_shop_topic_triggered" ON "webhook_events" USING btree ("shop","topic","triggered_at");