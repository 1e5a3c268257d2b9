CREATE TABLE `backup_templates` (
	`name` text PRIMARY KEY NOT NULL,
	`source_binding` text NOT NULL,
	`bucket_name` text NOT NULL,
	`include_prefixes` text NOT NULL,
	`exclude_prefixes` text NOT NULL,
	`schedule` text NOT NULL,
	`retention_days` integer NOT NULL,
	`keep` text NOT NULL,
	`compression` integer NOT NULL,
	`encryption` integer NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`updated_by` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `template` text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `source_binding` text DEFAULT 'R2_BUCKET' NOT NULL;--> statement-breakpoint
CREATE INDEX `r2_backups_bucket_template_status_date_idx` ON `r2_backups` (`bucket_name`,`template`,`status`,`backup_date`);