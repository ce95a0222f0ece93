-- materialized: append
-- tags: [orders, staging, quality]
-- description: The order events stg_orders drops, with the reasons why.

-- Appended once per delivery batch, so an event rejected again when it is re-delivered in a later
-- batch appears again (with its new received_at), which is what an operator wants to see.
SELECT event_id, order_id, source, raw_amount, ordered_at, received_at, reason
FROM staging.parsed_orders
WHERE reason <> ''
-- One row per event within the batch, like stg_orders (events without an id are all kept).
QUALIFY event_id IS NULL
     OR row_number() OVER (PARTITION BY event_id ORDER BY received_at) = 1
