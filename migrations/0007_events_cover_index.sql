-- Index on events.cover_media_id: whether an image may be shown is decided by asking if a published
-- event of its owner uses it as its cover, which without this index scans every event.
CREATE INDEX `events_cover_media` ON `events` (`cover_media_id`);