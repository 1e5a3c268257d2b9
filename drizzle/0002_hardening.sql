CREATE TABLE `job_findings` (
	`job_id` text NOT NULL,
	`list` text NOT NULL,
	`seq` integer NOT NULL,
	`path` text NOT NULL,
	`detail` text,
	`expected` text,
	`actual` text,
	PRIMARY KEY(`job_id`, `list`, `seq`)
);
--> statement-breakpoint
ALTER TABLE `backup_jobs` ADD `updated_at` text;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `max_key_bytes` integer DEFAULT 0 NOT NULL;