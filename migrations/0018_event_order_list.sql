-- The host's order list (GET /api/v1/events/:id/orders, issue 21: API keys and sessions) pages one
-- event's orders newest first: an index on (event_id, created_at) keeps each page a short index walk
-- instead of sorting every order of a big event.
CREATE INDEX `orders_event_created` ON `orders` (`event_id`,`created_at`);