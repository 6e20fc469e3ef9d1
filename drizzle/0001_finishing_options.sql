ALTER TABLE "images" ADD COLUMN "options" jsonb;--> statement-breakpoint
ALTER TABLE "settings" ADD COLUMN "finishing" jsonb;