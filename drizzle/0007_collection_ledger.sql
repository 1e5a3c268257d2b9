CREATE TABLE `gc_holders` (
	`holder` text PRIMARY KEY NOT NULL,
	`ended_seq` integer
);
--> statement-breakpoint
CREATE INDEX `gc_holders_ended_seq_idx` ON `gc_holders` (`ended_seq`);--> statement-breakpoint
CREATE TABLE `gc_pages` (
	`page_id` text PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL,
	`collector` text NOT NULL,
	`state` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `gc_pages_state_seq_idx` ON `gc_pages` (`state`,`seq`);--> statement-breakpoint
CREATE INDEX `gc_pages_collector_idx` ON `gc_pages` (`collector`);--> statement-breakpoint
CREATE TABLE `gc_refs` (
	`key` text NOT NULL,
	`holder` text NOT NULL,
	PRIMARY KEY(`key`, `holder`)
);
--> statement-breakpoint
CREATE INDEX `gc_refs_holder_idx` ON `gc_refs` (`holder`);--> statement-breakpoint
CREATE TABLE `gc_state` (
	`id` integer PRIMARY KEY NOT NULL,
	`seq` integer DEFAULT 0 NOT NULL,
	`collector` text,
	`collector_since` integer,
	`pruned_through` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `gc_tombstones` (
	`key` text NOT NULL,
	`seq` integer NOT NULL,
	PRIMARY KEY(`key`, `seq`)
);
--> statement-breakpoint
CREATE INDEX `gc_tombstones_seq_idx` ON `gc_tombstones` (`seq`);