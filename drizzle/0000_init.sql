CREATE TABLE `backup_files` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`backup_id` text NOT NULL,
	`file_path` text NOT NULL,
	`backup_path` text,
	`file_size` integer DEFAULT 0 NOT NULL,
	`checksum` text,
	`status` text NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `backup_files_backup_id_file_path_idx` ON `backup_files` (`backup_id`,`file_path`);--> statement-breakpoint
CREATE INDEX `backup_files_backup_id_status_idx` ON `backup_files` (`backup_id`,`status`);--> statement-breakpoint
CREATE TABLE `backup_jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`backup_id` text,
	`status` text NOT NULL,
	`requested_by` text NOT NULL,
	`created_at` text NOT NULL,
	`started_at` text,
	`completed_at` text,
	`files_processed` integer DEFAULT 0 NOT NULL,
	`files_total` integer DEFAULT 0 NOT NULL,
	`result` text,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `backup_jobs_backup_id_created_at_idx` ON `backup_jobs` (`backup_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `backup_logs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event_key` text NOT NULL,
	`backup_id` text NOT NULL,
	`timestamp` text NOT NULL,
	`event_type` text NOT NULL,
	`level` text NOT NULL,
	`message` text NOT NULL,
	`requested_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `backup_logs_event_key_idx` ON `backup_logs` (`event_key`);--> statement-breakpoint
CREATE INDEX `backup_logs_backup_id_id_idx` ON `backup_logs` (`backup_id`,`id`);--> statement-breakpoint
CREATE INDEX `backup_logs_backup_id_level_id_idx` ON `backup_logs` (`backup_id`,`level`,`id`);--> statement-breakpoint
CREATE TABLE `r2_backups` (
	`id` text PRIMARY KEY NOT NULL,
	`bucket_name` text NOT NULL,
	`backup_date` text NOT NULL,
	`status` text NOT NULL,
	`backup_type` text NOT NULL,
	`trigger` text NOT NULL,
	`requested_by` text NOT NULL,
	`parent_id` text,
	`started_at` text,
	`completed_at` text,
	`file_count` integer DEFAULT 0 NOT NULL,
	`total_size` integer DEFAULT 0 NOT NULL,
	`snapshot_file_count` integer DEFAULT 0 NOT NULL,
	`snapshot_size` integer DEFAULT 0 NOT NULL,
	`deleted_count` integer DEFAULT 0 NOT NULL,
	`failed_count` integer DEFAULT 0 NOT NULL,
	`bytes_uploaded` integer DEFAULT 0 NOT NULL,
	`checksum` text,
	`manifest_key` text,
	`error` text,
	`phase` text DEFAULT 'pending' NOT NULL,
	`files_processed` integer DEFAULT 0 NOT NULL,
	`bytes_processed` integer DEFAULT 0 NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `r2_backups_backup_date_id_idx` ON `r2_backups` (`backup_date`,`id`);--> statement-breakpoint
CREATE INDEX `r2_backups_status_backup_date_idx` ON `r2_backups` (`status`,`backup_date`,`id`);--> statement-breakpoint
CREATE INDEX `r2_backups_backup_type_backup_date_idx` ON `r2_backups` (`backup_type`,`backup_date`,`id`);--> statement-breakpoint
CREATE INDEX `r2_backups_bucket_status_type_date_idx` ON `r2_backups` (`bucket_name`,`status`,`backup_type`,`backup_date`);--> statement-breakpoint
CREATE VIEW `backup_health_metrics` AS select "bucket_name", count(*) as "total_backups", sum(CASE WHEN "status" = 'completed' THEN 1 ELSE 0 END) as "completed_backups", sum(CASE WHEN "status" IN ('failed', 'partial') THEN 1 ELSE 0 END) as "failed_backups", round(100.0 * sum(CASE WHEN "status" = 'completed' THEN 1 ELSE 0 END)
        / nullif(sum(CASE WHEN "status" IN ('completed', 'partial', 'failed') THEN 1 ELSE 0 END), 0), 2) as "success_rate", max("backup_date") as "last_backup_date", max(CASE WHEN "status" = 'completed' THEN "backup_date" END) as "last_successful_backup_date", sum("bytes_uploaded") as "stored_bytes", avg(CASE WHEN "status" = 'completed' AND "started_at" IS NOT NULL AND "completed_at" IS NOT NULL
        THEN (julianday("completed_at") - julianday("started_at")) * 86400.0 END) as "average_duration_seconds" from "r2_backups" group by "r2_backups"."bucket_name";--> statement-breakpoint
CREATE VIEW `backup_summary` AS select "id", "bucket_name", "backup_date", "backup_type", "status", "file_count", "total_size", "snapshot_file_count", "snapshot_size", "bytes_uploaded", "failed_count", CASE WHEN "started_at" IS NOT NULL AND "completed_at" IS NOT NULL
        THEN (julianday("completed_at") - julianday("started_at")) * 86400.0 END as "duration_seconds", CASE WHEN "status" = 'completed' THEN 1 ELSE 0 END as "succeeded" from "r2_backups";