-- An order's tickets in serial order. Every order the inventory object pushes writes its webhook
-- event with the order's ticket ids, and GET /orders/:id lists them: without this index each read
-- scanned every ticket in D1, a cost that grew with every ticket ever sold.
CREATE INDEX `tickets_order` ON `tickets` (`order_id`,`serial`);
