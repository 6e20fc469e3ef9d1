CREATE TABLE "auto_seen_media" (
	"shop" text NOT NULL,
	"media_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "auto_seen_media_pk" PRIMARY KEY("shop","media_id")
);
--> statement-breakpoint
CREATE TABLE "catalogue_batches" (
	"id" uuid PRIMARY KEY NOT NULL,
	"shop" text NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"scope" jsonb NOT NULL,
	"operation" text NOT NULL,
	"options" jsonb,
	"apply" text NOT NULL,
	"cursor" text,
	"pages" integer DEFAULT 0 NOT NULL,
	"walk_done" boolean DEFAULT false NOT NULL,
	"stop_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "catalogue_batches_status" CHECK ("catalogue_batches"."status" in ('running', 'paused', 'cancelled', 'done'))
);
--> statement-breakpoint
CREATE TABLE "catalogue_media_index" (
	"shop" text NOT NULL,
	"media_id" text NOT NULL,
	"product_id" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "catalogue_media_index_pk" PRIMARY KEY("shop","media_id")
);
--> statement-breakpoint
CREATE TABLE "demo_media" (
	"id" text PRIMARY KEY NOT NULL,
	"shop" text NOT NULL,
	"product_id" text NOT NULL,
	"position" integer NOT NULL,
	"alt" text,
	"storage_key" text NOT NULL,
	"content_type" text NOT NULL,
	"width" integer,
	"height" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "demo_products" (
	"id" text PRIMARY KEY NOT NULL,
	"shop" text NOT NULL,
	"title" text NOT NULL,
	"status" text DEFAULT 'ACTIVE' NOT NULL,
	"collection_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "media_runs" (
	"image_id" uuid PRIMARY KEY NOT NULL,
	"shop" text NOT NULL,
	"media_id" text NOT NULL,
	"product_id" text NOT NULL,
	"apply" text NOT NULL,
	"batch_id" uuid,
	"auto" boolean DEFAULT false NOT NULL,
	"alt" text,
	"applied_mode" text,
	"result_media_id" text,
	"applied_at" timestamp with time zone,
	"restored_at" timestamp with time zone,
	"apply_error" text,
	"original_removed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "media_runs_batch_media" UNIQUE("batch_id","media_id")
);
--> statement-breakpoint
ALTER TABLE "settings" ADD COLUMN "auto_process" jsonb;--> statement-breakpoint
ALTER TABLE "auto_seen_media" ADD CONSTRAINT "auto_seen_media_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "catalogue_batches" ADD CONSTRAINT "catalogue_batches_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "catalogue_media_index" ADD CONSTRAINT "catalogue_media_index_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "demo_media" ADD CONSTRAINT "demo_media_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "demo_media" ADD CONSTRAINT "demo_media_product_id_demo_products_id_fk" FOREIGN KEY ("product_id") REFERENCES "public"."demo_products"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "demo_products" ADD CONSTRAINT "demo_products_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_runs" ADD CONSTRAINT "media_runs_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_runs" ADD CONSTRAINT "media_runs_shop_shops_domain_fk" FOREIGN KEY ("shop") REFERENCES "public"."shops"("domain") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "media_runs" ADD CONSTRAINT "media_runs_batch_id_catalogue_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."catalogue_batches"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "auto_seen_media_shop_created" ON "auto_seen_media" USING btree ("shop","created_at");--> statement-breakpoint
CREATE INDEX "catalogue_batches_shop_created" ON "catalogue_batches" USING btree ("shop","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "demo_media_product_position" ON "demo_media" USING btree ("product_id","position");--> statement-breakpoint
CREATE INDEX "demo_products_shop_id" ON "demo_products" USING btree ("shop","id");--> statement-breakpoint
CREATE INDEX "media_runs_shop_media_created" ON "media_runs" USING btree ("shop","media_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "media_runs_result_media" ON "media_runs" USING btree ("shop","result_media_id");--> statement-breakpoint
CREATE INDEX "media_runs_batch" ON "media_runs" USING btree ("batch_id");--> statement-breakpoint
CREATE INDEX "media_runs_applied" ON "media_runs" USING btree ("applied_at");