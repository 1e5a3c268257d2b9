ALTER TABLE `alerts` ADD `resolve_requested_at` text;--> statement-breakpoint
ALTER TABLE `alerts` ADD `resolve_at` text;--> statement-breakpoint
ALTER TABLE `alerts` ADD `resolve_requested_by` text;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `modified_count` integer;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `sampled_count` integer;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `incompressible_count` integer;--> statement-breakpoint
ALTER TABLE `r2_backups` ADD `changed_prefixes` text;