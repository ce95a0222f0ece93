-- materialized: merge
-- unique_key: refund_id
-- incremental_on: [raw.payments_refunds]
-- tags: [orders, staging]
-- description: Refunds, deduplicated. Some refer to orders that never reached stg_orders.

SELECT
    refund_id,
    order_id,
    amount,
    reason,
    refunded_at
FROM raw.payments_refunds
WHERE refund_id IS NOT NULL
  AND amount IS NOT NULL
-- Re-deliveries repeat the event; the one received first is kept. A re-delivery in a later
-- batch merges into an identical row.
QUALIFY row_number() OVER (PARTITION BY refund_id ORDER BY received_at, event_id) = 1
