-- materialized: append
-- incremental_on: [staging.stg_orders]
-- sort_by: [order_date, ordered_at]
-- tags: [orders, analytics]
-- description: One row per order with the customer it was linked to, if any.

-- Sorted by day: daily_revenue re-reads the days new rows touch, and skips the other row groups.
-- New orders only (incremental_on), joined to the whole current entity table. An order is
-- linked by its account (customer_id), else by its email, else by its phone, so that guest
-- checkouts and walk-ins of known customers are found through their contact details.
-- Only the entities the orders being linked can match are read, in one pass over the entities;
-- on an incremental run that is a few thousand of them, not all.
WITH candidates AS MATERIALIZED (
    SELECT customer_id, customer_key, email, phone
    FROM semantic.customer_entities
    WHERE customer_id IN (SELECT customer_id FROM staging.stg_orders)
       OR email IN (SELECT email FROM staging.stg_orders)
       OR phone IN (SELECT phone FROM staging.stg_orders)
),

by_email AS (
    -- All customers sharing an email are one cluster, so min() only picks a representative.
    SELECT email, min(customer_id) AS customer_id, min(customer_key) AS customer_key
    FROM candidates
    WHERE email IS NOT NULL
    GROUP BY email
),

by_phone AS (
    SELECT phone, min(customer_id) AS customer_id, min(customer_key) AS customer_key
    FROM candidates
    WHERE phone IS NOT NULL
    GROUP BY phone
)

SELECT
    o.order_id,
    o.event_id,
    o.source,
    o.store_id,
    -- Days are UTC days whatever the session's time zone.
    CAST(timezone('UTC', o.ordered_at) AS DATE) AS order_date,
    o.ordered_at,
    o.amount,
    coalesce(a.customer_id, e.customer_id, p.customer_id) AS customer_id,
    coalesce(a.customer_key, e.customer_key, p.customer_key) AS customer_key,
    CASE
        WHEN a.customer_id IS NOT NULL THEN 'account'
        WHEN e.customer_id IS NOT NULL THEN 'email'
        WHEN p.customer_id IS NOT NULL THEN 'phone'
    END AS linked_by
FROM staging.stg_orders AS o
LEFT JOIN candidates AS a ON a.customer_id = o.customer_id
LEFT JOIN by_email AS e ON e.email = o.email
LEFT JOIN by_phone AS p ON p.phone = o.phone
