ALTER TABLE `backup_jobs` ADD `shards` text;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `shards` text;