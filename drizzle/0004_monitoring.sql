CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`bucket_name` text NOT NULL,
	`code` text NOT NULL,
	`severity` text NOT NULL,
	`message` text NOT NULL,
	`details` text NOT NULL,
	`opened_at` text NOT NULL,
	`resolved_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alerts_open_bucket_code_idx` ON `alerts` (`bucket_name`,`code`) WHERE resolved_at IS NULL;--> statement-breakpoint
CREATE INDEX `alerts_opened_at_id_idx` ON `alerts` (`opened_at`,`id`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`event` text NOT NULL,
	`body` text NOT NULL,
	`created_at` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` text NOT NULL,
	`last_attempt_at` text,
	`last_error` text,
	`delivered_at` text
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_status_next_idx` ON `webhook_deliveries` (`status`,`next_attempt_at`);--> statement-breakpoint
ALTER TABLE `backup_jobs` ADD `steps` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `backup_jobs` ADD `retries` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `stored_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `steps` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `retries` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `r2_backups_bucket_date_idx` ON `r2_backups` (`bucket_name`,`backup_date`);--> statement-breakpoint
DROP VIEW `backup_health_metrics`;--> statement-breakpoint
DROP VIEW `backup_summary`;--> statement-breakpoint
CREATE VIEW `backup_health_metrics` AS select "bucket_name", sum(CASE WHEN "status" <> 'expired' THEN 1 ELSE 0 END) as "total_backups", sum(CASE WHEN "status" = 'completed' THEN 1 ELSE 0 END) as "completed_backups", sum(CASE WHEN "status" IN ('failed', 'partial') THEN 1 ELSE 0 END) as "failed_backups", sum(CASE WHEN "status" = 'expired' THEN 1 ELSE 0 END) as "expired_backups", round(100.0 * sum(CASE WHEN "status" = 'completed' THEN 1 ELSE 0 END)
        / nullif(sum(CASE WHEN "status" IN ('completed', 'partial', 'failed') THEN 1 ELSE 0 END), 0), 2) as "success_rate", max("backup_date") as "last_backup_date", max(CASE WHEN "status" = 'completed' THEN "backup_date" END) as "last_successful_backup_date", (SELECT count(*) FROM r2_backups f WHERE f.bucket_name = "r2_backups"."bucket_name"
        AND f.status IN ('failed', 'partial') AND f.backup_date > coalesce((SELECT max(c.backup_date) FROM r2_backups c
        WHERE c.bucket_name = "r2_backups"."bucket_name" AND c.status = 'completed'), '')) as "consecutive_failures", sum("stored_bytes") as "bytes_written", sum(CASE WHEN "status" IN ('completed', 'partial') THEN "snapshot_size" ELSE 0 END) as "logical_bytes", avg(CASE WHEN "status" = 'completed' AND "started_at" IS NOT NULL AND "completed_at" IS NOT NULL
        THEN (julianday("r2_backups"."completed_at") - julianday("r2_backups"."started_at")) * 86400.0 END) as "average_duration_seconds" from "r2_backups" group by "r2_backups"."bucket_name";--> statement-breakpoint
CREATE VIEW `backup_summary` AS select "id", "bucket_name", "backup_date", "backup_type", "status", "file_count", "total_size", "snapshot_file_count", "snapshot_size", "bytes_uploaded", "stored_bytes", "failed_count", "files_processed", "bytes_processed", "steps", "retries", CASE WHEN "started_at" IS NOT NULL AND "completed_at" IS NOT NULL
        THEN (julianday("r2_backups"."completed_at") - julianday("r2_backups"."started_at")) * 86400.0 END as "duration_seconds", CASE WHEN "status" = 'completed' THEN 1 ELSE 0 END as "succeeded" from "r2_backups";