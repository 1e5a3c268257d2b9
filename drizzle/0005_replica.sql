ALTER TABLE `r2_backups` ADD `replica_status` text;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `replica_completed_at` text;