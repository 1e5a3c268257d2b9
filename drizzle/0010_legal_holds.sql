ALTER TABLE `r2_backups` ADD `hold_by` text;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `hold_at` text;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `hold_reason` text;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `hold_release_at` text;