ALTER TABLE `r2_backups` ADD `last_verified_at` text;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `last_verification_valid` integer;--> statement-breakpoint
CREATE INDEX `backup_jobs_backup_id_kind_idx` ON `backup_jobs` (`backup_id`,`kind`);